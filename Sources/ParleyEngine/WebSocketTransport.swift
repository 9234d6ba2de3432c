import NIOCore
import NIOWebSocket
import ParleyProtocol

/// The writing side of one WebSocket connection, usable from the session's event loop even
/// when the connection lives on another one. A class: sessions pass it around on every write.
final class WebSocketTransport: Sendable {
    let channel: any Channel
    /// The connection's loop, read once.
    private let eventLoop: any EventLoop
    private let writer: NIOLoopBound<EngineWebSocketHandler>

    init(channel: any Channel, handler: EngineWebSocketHandler) {
        self.channel = channel
        self.eventLoop = channel.eventLoop
        self.writer = NIOLoopBound(handler, eventLoop: channel.eventLoop)
    }

    /// Writes one packet's frame without flushing, when called on the connection's own loop.
    ///
    /// - Returns: `false` (nothing written) from another loop.
    func writeWithoutFlush(_ packet: OutboundPacket) -> Bool {
        guard eventLoop.inEventLoop else { return false }
        let writer = self.writer.value
        if case .prepared(let prepared) = packet {
            writer.write(prepared.webSocketFrame)
        } else {
            Self.frame(CollectionOfOne(packet), allocator: channel.allocator) { writer.write($0) }
        }
        return true
    }

    /// Flushes what ``writeWithoutFlush(_:)`` wrote. Call on the connection's loop.
    func flush() {
        writer.value.flush()
    }

    var id: ObjectIdentifier { ObjectIdentifier(channel) }

    /// Whether the connection can take more bytes without growing its buffer past the
    /// high-water mark.
    var isWritable: Bool { channel.isWritable }

    /// Writes `packets` as frames and flushes once.
    ///
    /// Packets of the session's own go into one buffer, frame after frame; a prepared message
    /// goes out as the frame buffer it already is, shared with its other recipients.
    func write(_ packets: some Sequence<OutboundPacket>) {
        if channel.eventLoop.inEventLoop {
            let writer = self.writer.value
            Self.frame(packets, allocator: channel.allocator) { writer.write($0) }
            writer.flush()
        } else {
            var pieces: [ByteBuffer] = []
            Self.frame(packets, allocator: channel.allocator) { pieces.append($0) }
            guard !pieces.isEmpty else { return }
            let writer = self.writer
            let all = pieces
            channel.eventLoop.execute {
                for piece in all { writer.value.write(piece) }
                writer.value.flush()
            }
        }
    }

    /// Hands `packets` to `emit` as framed buffers, in order.
    /// Stops sending, then closes once the client has closed its side, or after a second.
    ///
    /// Closing a socket that still has unread bytes (the rest of an oversized frame, say) makes
    /// the kernel reset the connection, and the reset can overtake the close frame on its way
    /// to the client. Shutting down only the sending side lets the client read the close frame
    /// and answer it; its own close ends the connection.
    private static func closeAfterLinger(_ channel: any Channel) {
        let closed = channel.eventLoop.makePromise(of: Void.self)
        channel.close(mode: .output, promise: closed)
        closed.futureResult.whenComplete { result in
            guard case .success = result else {
                channel.close(promise: nil)
                return
            }
            channel.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
        }
    }

    private static func frame(_ packets: some Sequence<OutboundPacket>, allocator: ByteBufferAllocator, _ emit: (ByteBuffer) -> Void) {
        var frames: ByteBuffer?
        for packet in packets {
            switch packet {
            case .packet(let packet):
                var buffer = frames ?? allocator.buffer(capacity: 0)
                frames = nil
                if case .message(.binary(let bytes)) = packet {
                    WebSocketFrameHeader.writeFrame(opcode: .binary, payload: bytes, into: &buffer)
                } else {
                    appendTextFrame(packet, into: &buffer)
                }
                frames = buffer
            case .prepared(let prepared):
                if let pending = frames {
                    emit(pending)
                    frames = nil
                }
                emit(prepared.webSocketFrame)
            }
        }
        if let frames { emit(frames) }
    }

    /// Writes one frame (a packet's text form, or a control frame) and flushes.
    func write(frame opcode: WebSocketOpcode, payload: ByteBuffer) {
        let frame = Self.frame(opcode, payload, allocator: channel.allocator)
        let writer = self.writer
        onLoop { writer.value.write(frame); writer.value.flush() }
    }

    /// How long a closing connection may take to send its last frames and hear the client's
    /// close, in all; then it is closed whatever the peer does (one that never reads included).
    static let closeDeadline: TimeAmount = .seconds(2)

    /// Writes `packets`, then a close frame with `code`, then closes the connection: at once
    /// once the client answers, and after ``closeDeadline`` at the latest.
    func close(after packets: [OutboundPacket] = [], code: WebSocketErrorCode) {
        write(packets)
        var payload = channel.allocator.buffer(capacity: 2)
        payload.write(webSocketErrorCode: code)
        let frame = Self.frame(.connectionClose, payload, allocator: channel.allocator)
        let channel = self.channel
        let writer = self.writer
        onLoop {
            let done = channel.eventLoop.makePromise(of: Void.self)
            writer.value.write(frame, promise: done)
            writer.value.flush()
            done.futureResult.whenComplete { _ in Self.closeAfterLinger(channel) }
            // A peer that stops reading never lets the close frame out: the write above then
            // never completes, and only this ends the connection.
            channel.eventLoop.scheduleTask(in: Self.closeDeadline) { channel.close(promise: nil) }
        }
    }

    private static func frame(_ opcode: WebSocketOpcode, _ payload: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        var frame = allocator.buffer(capacity: WebSocketFrameHeader.maxLength + payload.readableBytes)
        WebSocketFrameHeader.writeFrame(opcode: opcode, payload: payload, into: &frame)
        return frame
    }

    private func onLoop(_ body: @escaping @Sendable () -> Void) {
        if channel.eventLoop.inEventLoop { body() } else { channel.eventLoop.execute(body) }
    }

    /// Appends the frame of a packet in its text form: header, type digit, payload.
    private static func appendTextFrame(_ packet: EnginePacket, into buffer: inout ByteBuffer) {
        if case .message(.text(let text)) = packet {
            buffer.reserveCapacity(minimumWritableBytes: WebSocketFrameHeader.maxLength + 1 + text.readableBytes)
            WebSocketFrameHeader.write(opcode: .text, length: 1 + text.readableBytes, into: &buffer)
            buffer.writeInteger(UInt8(ascii: "4"))
            buffer.writeImmutableBuffer(text)
        } else {
            // Control packets (open, ping, close, noop...): short, and rare next to messages.
            var text = ByteBuffer()
            EnginePacketCodec.writeText(packet, into: &text)
            WebSocketFrameHeader.writeFrame(opcode: .text, payload: text, into: &buffer)
        }
    }
}
