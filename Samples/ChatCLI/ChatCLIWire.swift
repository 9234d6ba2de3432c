// The chat protocol's payloads as a client sees them (Samples/Chat/README.md § Protocol).

/// `join` to the server.
struct JoinRequest: Encodable, Sendable {
    let room: String
}

/// `message` to the server.
struct MessageRequest: Encodable, Sendable {
    let room: String
    let text: String
}

/// The server's acknowledgement of `nickname`, `join` and `message`: `ok`, or `error` and why.
struct ChatReply: Decodable, Sendable {
    let ok: Bool
    let error: String?
    let nick: String?
    let room: String?
    let members: [String]?
    /// The message's offset in the room's history.
    let id: String?
    /// Milliseconds since 1970.
    let time: Int64?
}

/// `message` from another member of the room.
struct IncomingMessage: Decodable, Sendable {
    let room: String
    let from: String
    let text: String
    /// Milliseconds since 1970.
    let time: Int64
}

/// `joined` / `left`.
struct MemberNotice: Decodable, Sendable {
    let room: String
    let nick: String
}

/// `renamed`.
struct RenameNotice: Decodable, Sendable {
    let room: String
    let from: String
    let to: String
}

/// `typing`.
struct TypingNotice: Decodable, Sendable {
    let room: String
    let nick: String
    let typing: Bool
}
