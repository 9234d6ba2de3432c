/// The server refused a reliable emit (`Protocol/reliable.md` § 5), or the client cannot make
/// one. The emit has left the outbox: it will not be sent again.
public struct ReliableEmitError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public var code: ReliableErrorCode
    /// The server's explanation, if any.
    public var message: String?
    /// The emit's idempotency key, when it had one.
    public var key: String?

    /// Creates an error.
    public init(_ code: ReliableErrorCode, message: String? = nil, key: String? = nil) {
        self.code = code
        self.message = message
        self.key = key
    }

    public var description: String {
        "reliable emit \(key.map { "\($0) " } ?? "")failed: \(code)" + (message.map { " (\($0))" } ?? "")
    }
}
