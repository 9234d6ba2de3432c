/// The peer sent something that is not a valid Socket.IO v5 packet or attachment sequence.
///
/// A session that produces this error should be closed. The codes are the strings used in
/// `Protocol/vectors/socket-packets.json`; `Protocol/socket.md` §6 says when each applies.
public struct SocketProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of violation this is. New codes may be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case emptyPacket
            case unknownPacketType
            case invalidAttachmentCount
            case tooManyAttachments
            case invalidNamespace
            case invalidAckID
            case invalidJSON
            case invalidPayload
            case reservedEventName
            case unexpectedText
            case unexpectedBinary
        }

        private let base: Base

        private init(_ base: Base) { self.base = base }

        /// The text message has no bytes at all.
        public static let emptyPacket = Code(.emptyPacket)
        /// The first character is not a packet type digit `0`–`6`.
        public static let unknownPacketType = Code(.unknownPacketType)
        /// A binary kind without a positive decimal count and `-`, or a count on a
        /// non-binary kind.
        public static let invalidAttachmentCount = Code(.invalidAttachmentCount)
        /// The attachment count is above the decoder's `maxAttachments`.
        public static let tooManyAttachments = Code(.tooManyAttachments)
        /// The namespace holds a forbidden character (a missing comma) or is not UTF-8.
        public static let invalidNamespace = Code(.invalidNamespace)
        /// The ack id is too large, missing on an ack, or present on a kind that has none.
        public static let invalidAckID = Code(.invalidAckID)
        /// The payload is not exactly one well-formed JSON value.
        public static let invalidJSON = Code(.invalidJSON)
        /// The payload is well-formed JSON of the wrong shape for the packet kind.
        public static let invalidPayload = Code(.invalidPayload)
        /// An event is named after one of the names the Socket.IO layer reserves.
        public static let reservedEventName = Code(.reservedEventName)
        /// A text message arrived while attachments of a binary packet were still expected.
        public static let unexpectedText = Code(.unexpectedText)
        /// A binary message arrived while no attachment was expected.
        public static let unexpectedBinary = Code(.unexpectedBinary)

        /// The code's name, as written in the test vectors.
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

    /// The code followed by the detail.
    public var description: String { "\(code): \(detail)" }
}
