import NIOCore
import NIOWebSocket
import ParleyProtocol

/// The writing side of one WebSocket connection, usable from the session's event loop even
/// when the connection lives on another one.
struct WebSocketTransport: Sendable {
    let channel: any Channel

    var id: ObjectIdentifier { ObjectIdentifier(channel) }

    /// Whether the connection can take more bytes without growing its buffer past the
    /// high-water mark.
    var isWritable: Bool { channel.isWritable }

    /// Writes `packets` as frames and flushes once.
    func write(_ packets: some Sequence<EnginePacket>) {
        let allocator = channel.allocator
        let frames = packets.map { packet in
            switch EnginePacketCodec.encode(packet, allocator: allocator) {
            case .text(let bytes): WebSocketFrame(fin: true, opcode: .text, data: bytes)
            case .binary(let bytes): WebSocketFrame(fin: true, opcode: .binary, data: bytes)
            }
        }
        guard !frames.isEmpty else { return }
        let channel = self.channel
        let write: @Sendable () -> Void = {
            for frame in frames { channel.write(frame, promise: nil) }
            channel.flush()
        }
        if channel.eventLoop.inEventLoop { write() } else { channel.eventLoop.execute(write) }
    }

    /// Writes `packets`, then a close frame with `code`, then closes the connection.
    func close(after packets: [EnginePacket] = [], code: WebSocketErrorCode) {
        write(packets)
        let channel = self.channel
        let close: @Sendable () -> Void = {
            var data = channel.allocator.buffer(capacity: 2)
            data.write(webSocketErrorCode: code)
            channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, data: data))
                .whenComplete { _ in channel.close(promise: nil) }
        }
        if channel.eventLoop.inEventLoop { close() } else { channel.eventLoop.execute(close) }
    }
}
