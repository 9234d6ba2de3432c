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

    init(server: SocketServer, logger: Logger) {
        self.server = server
        self.logger = logger
    }

    /// Installs the chat handlers on the main namespace.
    func attach() {
        // The nickname the page asks for (auth `{user}`) is its user: direct messages to it
        // wait in its queue while no page of it is open. A demo: nobody checks who asks.
        server.of("/").use { handshake in
            struct Auth: Decodable { var user: String? }
            if let asked = try? handshake.auth(as: Auth.self)?.user, let nick = try? ChatRules.nickname(asked) {
                handshake.identify(user: nick)
            }
        }
        server.onConnection { [self] socket in connected(socket) }
    }

    private func connected(_ socket: Socket) {
        // A recovered socket keeps its nickname and room (connection state recovery).
        let nick = socket.recovered ? nickname(of: socket) : socket.user ?? "guest-" + socket.id.prefix(4)
        socket.data["nick"] = nick
        if socket.user == nil { socket.identify(user: nick) }
        // Best effort: a `Welcome` always encodes, and a client that left already needs none.
        try? socket.emit("welcome", Welcome(nick: nick))

        socket.on("nickname") { [self] event in
            answer(event) { try rename(socket, to: event.argument(0, as: String.self)) }
        }
        socket.on("join") { [self] event in
            answer(event) { try join(socket, event.argument(0, as: JoinRequest.self)) }
        }
        socket.on("message", answer: { [self] event in
            await answering(event) { try await post(socket, event.argument(0, as: MessageRequest.self)) }
        })
        socket.on("dm", answer: { [self] event in
            await answering(event) { try await sendDirect(socket, event.argument(0, as: DirectRequest.self)) }
        })
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
        socket.identify(user: new)
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

    private func post(_ socket: Socket, _ request: MessageRequest) async throws -> ChatAck {
        guard request.room == currentRoom(of: socket) else { throw ChatError("join the room '\(request.room)' first") }
        let text = try ChatRules.text(request.text)
        let time = Int64((Date().timeIntervalSince1970 * 1000).rounded())
        let message = ChatMessage(room: request.room, from: nickname(of: socket), text: text, time: time)
        // Kept in the room's history (its offset is the message id); the sender shows its own
        // message once this ack arrives, so the live copy leaves it out.
        let id = try await socket.to(Self.key(request.room)).reliable.emit("message", message)
        logger.debug("message", metadata: ["chat.room": "\(request.room)", "chat.id": "\(id)"])
        return ChatAck(room: request.room, id: id, time: time)
    }

    private func sendDirect(_ socket: Socket, _ request: DirectRequest) async throws -> ChatAck {
        let to = try ChatRules.nickname(request.to)
        let text = try ChatRules.text(request.text)
        let time = Int64((Date().timeIntervalSince1970 * 1000).rounded())
        let message = DirectMessage(from: nickname(of: socket), to: to, text: text, time: time)
        // Queued for every device of `to`, delivered now or when one comes back.
        let id = try await socket.namespace.user(to).reliable.emit("dm", message)
        return ChatAck(id: id, time: time)
    }

    // MARK: Helpers

    /// Runs `body` and acknowledges the event with its result, or with the reason it failed.
    private func answer(_ event: SocketEvent, _ body: () throws -> ChatAck) {
        let reply = outcome(event, body)
        do {
            try event.ack(reply)
        } catch {
            logger.error("cannot acknowledge", metadata: ["chat.event": "\(event.name)", "chat.error": "\(error)"])
        }
    }

    /// The answer of an async event: its result, or the reason it failed.
    private func answering(_ event: SocketEvent, _ body: () async throws -> ChatAck) async -> ChatAck {
        do {
            return try await body()
        } catch {
            return outcome(event) { throw error }
        }
    }

    private func outcome(_ event: SocketEvent, _ body: () throws -> ChatAck) -> ChatAck {
        do {
            return try body()
        } catch let error as ChatError {
            return .failure(error.message)
        } catch is DecodingError {
            return .failure("malformed '\(event.name)' request")
        } catch let error as ReliableError where error.code == .queueFull {
            return .failure("their mailbox is full")
        } catch {
            logger.error("chat event failed", metadata: ["chat.event": "\(event.name)", "chat.error": "\(error)"])
            return .failure("server error")
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
