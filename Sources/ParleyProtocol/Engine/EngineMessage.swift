public import NIOCore

/// The application data of one Engine.IO `message` packet: UTF-8 text or raw bytes.
///
/// Text is kept as the bytes received, so that upper layers can scan it without building a
/// `String` they may never need.
public enum EngineMessage: Sendable, Hashable {
    /// A text message; the buffer holds UTF-8.
    case text(ByteBuffer)
    /// A binary message.
    case binary(ByteBuffer)

    /// A text message holding the UTF-8 of `string`.
    public init(text string: String) {
        self = .text(ByteBuffer(string: string))
    }

    /// A binary message holding `bytes`.
    public init(binary bytes: some Sequence<UInt8>) {
        self = .binary(ByteBuffer(bytes: bytes))
    }

    /// The message's text decoded as a `String`, or `nil` for a binary message.
    public var text: String? {
        guard case .text(let buffer) = self else { return nil }
        return String(buffer: buffer)
    }

    /// The number of payload bytes (the UTF-8 length for text).
    public var byteCount: Int {
        switch self {
        case .text(let buffer), .binary(let buffer): buffer.readableBytes
        }
    }
}
