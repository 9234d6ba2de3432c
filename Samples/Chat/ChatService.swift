import Foundation
import Logging
import Parley
import Synchronization

/// The chat protocol on top of a ``SocketServer``: nicknames, one room at a time per socket,
/// acknowledged messages and typing indicators.
///
/// Handlers run on each connection's event loop, one at a time per socket, so a socket's own
/// `data` (its nickname and room) needs no further locking.
final class ChatService: Sendable {
    private let server: SocketServer
    private let logger: Logger
    private let lastMessageID = Atomic<Int>(0)

    init(server: SocketServer, logger: Logger) {
        self.server = server
        self.logger = logger
    }

    /// Installs the chat handlers on the main namespace.
    func attach() {
        server.onConnection { [self] socket in connected(socket) }
    }

    private func connected(_ socket: Socket) {
        // A recovered socket keeps its nickname and room (connection state recovery).
        let nick = socket.recovered ? nickname(of: socket) : "guest-" + socket.id.prefix(4)
        socket.data["nick"] = nick
        // Best effort: a `Welcome` always encodes, and a client that left already needs none.
        try? socket.emit("welcome", Welcome(nick: nick))

        socket.on("nickname") { [self] event in
            answer(event) { try rename(socket, to: event.argument(0, as: String.self)) }
        }
        socket.on("join") { [self] event in
            answer(event) { try join(socket, event.argument(0, as: JoinRequest.self)) }
        }
        socket.on("message") { [self] event in
            answer(event) { try post(socket, event.argument(0, as: MessageRequest.self)) }
        }
        socket.on("typing") { [self] event in
            // Fire and forget: a malformed or stale indicator is simply not relayed.
            guard let request = try? event.argument(0, as: TypingRequest.self), request.room == currentRoom(of: socket) else { return }
            let notice = TypingNotice(room: request.room, nick: nickname(of: socket), typing: request.typing)
            try socket.broadcast.volatile.to(Self.key(request.room)).emit("typing", notice)
        }
        socket.onDisconnecting { [self] _ in
            guard let room = currentRoom(of: socket) else { return }
            // Best effort: the notice always encodes; nobody is left to tell about a failure.
            try? socket.to(Self.key(room)).emit("left", MemberNotice(room: room, nick: nickname(of: socket)))
            logger.info("left", metadata: ["chat.room": "\(room)", "chat.nick": "\(nickname(of: socket))"])
        }
    }

    // MARK: Events

    private func rename(_ socket: Socket, to raw: String) throws -> ChatAck {
        let new = try ChatRules.nickname(raw)
        let old = nickname(of: socket)
        socket.data["nick"] = new
        if new != old, let room = currentRoom(of: socket) {
            try socket.to(Self.key(room)).emit("renamed", RenameNotice(room: room, from: old, to: new))
        }
        return ChatAck(nick: new)
    }

    private func join(_ socket: Socket, _ request: JoinRequest) throws -> ChatAck {
        let room = try ChatRules.room(request.room)
        let nick = nickname(of: socket)
        if let previous = currentRoom(of: socket), previous != room {
            socket.leave(Self.key(previous))
            try socket.to(Self.key(previous)).emit("left", MemberNotice(room: previous, nick: nick))
        }
        if currentRoom(of: socket) != room {
            socket.join(Self.key(room))
            socket.data["room"] = room
            try socket.to(Self.key(room)).emit("joined", MemberNotice(room: room, nick: nick))
            logger.info("joined", metadata: ["chat.room": "\(room)", "chat.nick": "\(nick)"])
        }
        return ChatAck(nick: nick, room: room, members: members(of: room))
    }

    private func post(_ socket: Socket, _ request: MessageRequest) throws -> ChatAck {
        guard request.room == currentRoom(of: socket) else { throw ChatError("join the room '\(request.room)' first") }
        let text = try ChatRules.text(request.text)
        let id = lastMessageID.wrappingAdd(1, ordering: .relaxed).newValue
        let time = Int64((Date().timeIntervalSince1970 * 1000).rounded())
        let message = ChatMessage(id: id, room: request.room, from: nickname(of: socket), text: text, time: time)
        // The sender shows its own message once this ack arrives, so it is left out here.
        try socket.to(Self.key(request.room)).emit("message", message)
        logger.debug("message", metadata: ["chat.room": "\(request.room)", "chat.id": "\(id)"])
        return ChatAck(room: request.room, id: id, time: time)
    }

    // MARK: Helpers

    /// Runs `body` and acknowledges the event with its result, or with the reason it failed.
    private func answer(_ event: SocketEvent, _ body: () throws -> ChatAck) {
        let reply: ChatAck
        do {
            reply = try body()
        } catch let error as ChatError {
            reply = .failure(error.message)
        } catch is DecodingError {
            reply = .failure("malformed '\(event.name)' request")
        } catch {
            logger.error("chat event failed", metadata: ["chat.event": "\(event.name)", "chat.error": "\(error)"])
            reply = .failure("server error")
        }
        do {
            try event.ack(reply)
        } catch {
            logger.error("cannot acknowledge", metadata: ["chat.event": "\(event.name)", "chat.error": "\(error)"])
        }
    }

    /// The nickname of every member of `room`, sorted.
    private func members(of room: String) -> [String] {
        let key = Self.key(room)
        return server.of("/").sockets.filter { $0.rooms.contains(key) }.compactMap { $0.data.get("nick", as: String.self) }.sorted()
    }

    private func nickname(of socket: Socket) -> String {
        socket.data.get("nick", as: String.self) ?? "guest"
    }

    private func currentRoom(of socket: Socket) -> String? {
        socket.data.get("room", as: String.self)
    }

    /// Chat rooms live under a prefix, so no room name can be another socket's private room.
    private static func key(_ room: String) -> String {
        "chat:" + room
    }
}
