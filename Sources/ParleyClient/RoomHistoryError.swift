/// The server refused a history request (`Protocol/reliable.md` § 4.2), or its answer could not
/// be read.
public struct RoomHistoryError: Error, Sendable, CustomStringConvertible {
    /// What went wrong: ``ReliableErrorCode/forbidden``, ``ReliableErrorCode/badRequest``,
    /// ``ReliableErrorCode/invalidAnswer``, …
    public var code: ReliableErrorCode
    /// The server's explanation, if any.
    public var message: String?
    /// The room asked for.
    public var room: String

    /// Creates an error.
    public init(_ code: ReliableErrorCode, message: String? = nil, room: String) {
        self.code = code
        self.message = message
        self.room = room
    }

    public var description: String {
        "history of room \"\(room)\" failed: \(code)" + (message.map { " (\($0))" } ?? "")
    }
}
