import Foundation

// The chat protocol's payloads, one type per event argument (see README.md in this folder).

/// `join` from a client.
struct JoinRequest: Decodable {
    let room: String
}

/// `message` from a client.
struct MessageRequest: Decodable {
    let room: String
    let text: String
}

/// `dm` from a client.
struct DirectRequest: Decodable {
    let to: String
    let text: String
}

/// `typing` from a client.
struct TypingRequest: Decodable {
    let room: String
    let typing: Bool
}

/// The acknowledgement of every client event: `ok`, plus the fields of that event.
struct ChatAck: Encodable, Sendable {
    var ok = true
    var error: String?
    var nick: String?
    var room: String?
    var members: [String]?
    /// A room message's offset in the room's history, or a direct message's id.
    var id: String?
    var time: Int64?

    static func failure(_ message: String) -> ChatAck {
        ChatAck(ok: false, error: message)
    }
}

/// `message` to the other members of a room (its id, the room offset, is in the marker that
/// follows it: `Protocol/reliable.md` § 4).
struct ChatMessage: Encodable, Sendable {
    let room: String
    let from: String
    let text: String
    /// Milliseconds since 1970, as JavaScript's `Date` takes them.
    let time: Int64
}

/// `dm` to every device of its recipient, through the recipient's reliable queue.
struct DirectMessage: Encodable, Sendable {
    let from: String
    let to: String
    let text: String
    let time: Int64
}

/// `welcome` to a new socket: the nickname it was given until it picks one.
struct Welcome: Encodable, Sendable {
    let nick: String
}

/// `joined` / `left` to the other members of a room.
struct MemberNotice: Encodable, Sendable {
    let room: String
    let nick: String
}

/// `renamed` to the other members of a room.
struct RenameNotice: Encodable, Sendable {
    let room: String
    let from: String
    let to: String
}

/// `typing` relayed to the other members of a room.
struct TypingNotice: Encodable, Sendable {
    let room: String
    let nick: String
    let typing: Bool
}

/// A refused request; its message goes back in the ack.
struct ChatError: Error {
    let message: String

    init(_ message: String) {
        self.message = message
    }
}

/// Limits and checks on what clients send.
enum ChatRules {
    static let maxNicknameLength = 24
    static let maxRoomLength = 32
    static let maxTextLength = 2_000

    /// A trimmed nickname of 1–24 characters without control characters.
    static func nickname(_ raw: String) throws -> String {
        let nick = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !nick.isEmpty, nick.count <= maxNicknameLength, !nick.unicodeScalars.contains(where: CharacterSet.controlCharacters.contains) else {
            throw ChatError("a nickname has 1 to \(maxNicknameLength) characters")
        }
        return nick
    }

    /// A room name of 1–32 letters, digits, `-`, `_` or `.`.
    static func room(_ raw: String) throws -> String {
        let room = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        guard !room.isEmpty, room.count <= maxRoomLength, room.unicodeScalars.allSatisfy(allowed.contains) else {
            throw ChatError("a room name has 1 to \(maxRoomLength) letters, digits, '-', '_' or '.'")
        }
        return room
    }

    /// Message text of 1–2000 characters after trimming.
    static func text(_ raw: String) throws -> String {
        let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty, text.count <= maxTextLength else {
            throw ChatError("a message has 1 to \(maxTextLength) characters")
        }
        return text
    }
}
