/// The peer sent bytes that are not a valid Engine.IO v4 packet or polling payload.
///
/// Codes are the ones named in `Protocol/vectors/engine-packets.json` and
/// `Protocol/vectors/polling-payloads.json`; see `Protocol/engine.md`.
public struct EngineProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of violation this is. New codes may be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case emptyPacket
            case unknownPacketType
            case unexpectedPayload
            case invalidHandshake
            case invalidBase64
            case invalidUTF8
        }

        private let base: Base

        private init(_ base: Base) { self.base = base }

        /// A packet (or a segment of a polling payload) has no bytes at all.
        public static let emptyPacket = Code(.emptyPacket)
        /// The first character is not a packet type digit `0`–`6`.
        public static let unknownPacketType = Code(.unknownPacketType)
        /// A `close`, `upgrade` or `noop` packet carries bytes after its type digit.
        public static let unexpectedPayload = Code(.unexpectedPayload)
        /// An `open` packet whose JSON is not the handshake object.
        public static let invalidHandshake = Code(.invalidHandshake)
        /// A `b`-prefixed binary packet in a polling payload is not valid base64.
        public static let invalidBase64 = Code(.invalidBase64)
        /// A text packet is not valid UTF-8.
        public static let invalidUTF8 = Code(.invalidUTF8)

        public var description: String { base.rawValue }
    }

    /// The kind of violation.
    public var code: Code
    /// A human-readable explanation for logs.
    public var detail: String

    /// Creates an error with a code and a detail for logs.
    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(code): \(detail)" }
}
