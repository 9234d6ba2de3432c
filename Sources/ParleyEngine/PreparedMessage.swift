public import NIOCore
import NIOWebSocket
public import ParleyProtocol

/// An engine message encoded once for any number of sessions.
///
/// It holds the complete server-to-client WebSocket frame (header, packet type, payload) in
/// one buffer next to the message itself, so a broadcast writes the very same bytes to every
/// WebSocket recipient, with no copy and no framing per recipient; polling recipients encode
/// `message` into their response as usual.
///
/// ```swift
/// let news = PreparedMessage(text: 64) { buffer in buffer.writeString("hello") }
/// for session in sessions { session.send(news) }
/// ```
public struct PreparedMessage: Sendable {
    /// The message, as ``EngineSession/send(_:)-(EngineMessage)`` would take it.
    public let message: EngineMessage
    /// The WebSocket frame carrying the packet (`4` + text, or the raw bytes).
    let webSocketFrame: ByteBuffer
    /// `false` for a text message containing U+001E, which could not travel over polling.
    let isSendable: Bool

    /// The bytes kept in front of a prepared text so that the frame header and the packet type
    /// can be written there afterwards.
    static let textHeadroom = WebSocketFrameHeader.maxLength + 1

    /// Prepares `message`, copying its bytes once into the frame.
    public init(_ message: EngineMessage) {
        switch message {
        case .text(let text):
            self = PreparedMessage(text: text.readableBytes) { $0.writeImmutableBuffer(text) }
        case .binary(let bytes):
            var frame = ByteBuffer()
            frame.reserveCapacity(WebSocketFrameHeader.maxLength + bytes.readableBytes)
            WebSocketFrameHeader.write(opcode: .binary, length: bytes.readableBytes, into: &frame)
            frame.writeImmutableBuffer(bytes)
            self.init(message: message, webSocketFrame: frame, isSendable: true)
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
        let text = buffer.getSlice(at: headroom, length: length)!
        // Header and packet type go right in front of the text: `[unused][header]4[text]`.
        let headerLength = WebSocketFrameHeader.length(forPayload: length + 1)
        let start = headroom - 1 - headerLength
        buffer.setInteger(UInt8(ascii: "4"), at: headroom - 1)
        WebSocketFrameHeader.set(opcode: .text, length: length + 1, at: start, in: &buffer)
        buffer.moveReaderIndex(to: start)
        self.init(
            message: .text(text),
            webSocketFrame: buffer,
            isSendable: !text.readableBytesView.contains(PollingPayloadCodec.separator)
        )
    }

    private init(message: EngineMessage, webSocketFrame: ByteBuffer, isSendable: Bool) {
        self.message = message
        self.webSocketFrame = webSocketFrame
        self.isSendable = isSendable
    }
}
