public import NIOCore
import NIOWebSocket
public import ParleyProtocol

/// An engine message encoded once for any number of sessions.
///
/// It is the complete server-to-client WebSocket frame (header, packet type, payload) in one
/// buffer, so a broadcast writes the very same bytes to every WebSocket recipient, with no
/// copy and no framing per recipient; polling recipients encode ``message`` — a view into the
/// same buffer — into their response as usual. Copying one is one reference count.
///
/// ```swift
/// let news = PreparedMessage(text: 64) { buffer in buffer.writeString("hello") }
/// for session in sessions { session.send(news) }
/// ```
public struct PreparedMessage: Sendable {
    /// The WebSocket frame carrying the packet (`4` + text, or the raw bytes).
    let webSocketFrame: ByteBuffer
    /// Where the message's own bytes start in the frame.
    private let payloadOffset: Int32
    private let isBinary: Bool
    /// `false` for a text message containing U+001E, which could not travel over polling.
    let isSendable: Bool

    /// The bytes kept in front of a prepared text so that the frame header and the packet type
    /// can be written there afterwards.
    static let textHeadroom = WebSocketFrameHeader.maxLength + 1

    /// The message, as ``EngineSession/send(_:)-(EngineMessage)`` would take it.
    public var message: EngineMessage {
        let start = webSocketFrame.readerIndex + Int(payloadOffset)
        let payload = webSocketFrame.getSlice(at: start, length: webSocketFrame.writerIndex - start)!
        return isBinary ? .binary(payload) : .text(payload)
    }

    /// Prepares `message`, copying its bytes once into the frame.
    public init(_ message: EngineMessage) {
        switch message {
        case .text(let text):
            self.init(text: text.readableBytes) { $0.writeImmutableBuffer(text) }
        case .binary(let bytes):
            var frame = ByteBuffer()
            frame.reserveCapacity(WebSocketFrameHeader.maxLength + bytes.readableBytes)
            WebSocketFrameHeader.write(opcode: .binary, length: bytes.readableBytes, into: &frame)
            let offset = frame.readableBytes
            frame.writeImmutableBuffer(bytes)
            self.init(frame: frame, payloadOffset: offset, isBinary: true, isSendable: true)
        }
    }

    /// Prepares a text message whose UTF-8 `write` appends to the buffer it is given, which has
    /// room for `capacity` bytes (a hint: it grows when needed). The text is written once, in
    /// place, behind the room kept for the frame header.
    public init(text capacity: Int, _ write: (inout ByteBuffer) throws -> Void) rethrows {
        let headroom = Self.textHeadroom
        var buffer = ByteBuffer()
        buffer.reserveCapacity(headroom + capacity)
        buffer.moveWriterIndex(to: headroom)
        buffer.moveReaderIndex(to: headroom)
        try write(&buffer)
        let length = buffer.readableBytes
        let isSendable = !buffer.readableBytesView.contains(PollingPayloadCodec.separator)
        // Header and packet type go right in front of the text: `[unused][header]4[text]`.
        let headerLength = WebSocketFrameHeader.length(forPayload: length + 1)
        let start = headroom - 1 - headerLength
        buffer.setInteger(UInt8(ascii: "4"), at: headroom - 1)
        WebSocketFrameHeader.set(opcode: .text, length: length + 1, at: start, in: &buffer)
        buffer.moveReaderIndex(to: start)
        self.init(frame: buffer, payloadOffset: headerLength + 1, isBinary: false, isSendable: isSendable)
    }

    private init(frame: ByteBuffer, payloadOffset: Int, isBinary: Bool, isSendable: Bool) {
        self.webSocketFrame = frame
        self.payloadOffset = Int32(payloadOffset)
        self.isBinary = isBinary
        self.isSendable = isSendable
    }
}
