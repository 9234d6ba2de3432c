/// What went wrong with a reliable emit or a history request: a code the server sent in an
/// error marker (`Protocol/reliable.md` § 5, § 4.2), or one the client found itself.
///
/// Codes from the server are kept as they came, so a code this version does not name is still
/// told apart (``wireName``).
public struct ReliableErrorCode: Sendable, Hashable, CustomStringConvertible {
    /// The code as it travels, e.g. `key_reused`.
    public let wireName: String

    /// A code by its wire name, e.g. one this version does not name.
    public init(wireName: String) {
        self.wireName = wireName
    }

    /// The key was used before with another payload; the handler did not run.
    public static let keyReused = ReliableErrorCode(wireName: "key_reused")
    /// The server could not persist the answer. The outbox retries such an emit by itself, so
    /// an emit's caller never sees this code.
    public static let storeFailed = ReliableErrorCode(wireName: "store_failed")
    /// The socket may not read that room's history.
    public static let forbidden = ReliableErrorCode(wireName: "forbidden")
    /// The server found the request malformed.
    public static let badRequest = ReliableErrorCode(wireName: "bad_request")
    /// The server does not support what was asked.
    public static let unsupported = ReliableErrorCode(wireName: "unsupported")
    /// The manager has no ``SocketClientConfiguration/reliable`` configuration (found by the
    /// client; never on the wire).
    public static let notEnabled = ReliableErrorCode(wireName: "not_enabled")
    /// The server's answer is not what the protocol describes (found by the client; never on
    /// the wire).
    public static let invalidAnswer = ReliableErrorCode(wireName: "invalid_answer")

    public var description: String { wireName }
}
