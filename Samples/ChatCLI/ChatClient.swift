import Foundation
import ParleyClient
import ParleyProtocol

/// The chat protocol from a client's side: enters the room (nickname, then join) on every
/// connect, sends typed lines as acknowledged messages, and prints what happens.
///
/// Everything that changes the conversation — a line typed, the socket connecting or
/// disconnecting — goes through one stream and is handled in order by ``converse(_:)``, so
/// the state (are we in the room, which lines wait) needs no lock. Notices from the server are
/// printed straight from their handlers.
final class ChatClient: Sendable {
    /// How a run ended.
    enum Ending: Sendable {
        /// `/quit` or end of input.
        case left
        /// The server refused the nickname or the room, or the connection is gone for good.
        case failed
    }

    private enum Input: Sendable {
        case line(String)
        case endOfInput
        case connected
        case disconnected
        case connectionOver
    }

    /// What came of entering the room.
    private enum Entry {
        case entered(nick: String)
        /// The connection went away meanwhile; the next connect tries again.
        case interrupted
        /// The server refused the nickname or the room.
        case refused
    }

    /// What came of sending one message.
    private enum Delivery {
        case delivered
        case dropped
        /// The connection went away before the ack; send it again once back in the room.
        case retryLater
    }

    private let manager: SocketManager
    private let socket: ClientSocket
    private let nick: String
    private let room: String
    private static let ackTimeout = Duration.seconds(10)

    init(manager: SocketManager, nick: String, room: String) {
        self.manager = manager
        self.socket = manager.socket()
        self.nick = nick
        self.room = room
    }

    /// Connects, chats until `/quit`, end of input or a fatal refusal, then disconnects.
    func run(lines: AsyncStream<String>) async throws -> Ending {
        let (inputs, sink) = AsyncStream.makeStream(of: Input.self)
        listen(sink)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // `run()` returns only after a server disconnect or when reconnection gave up.
                defer { sink.yield(.connectionOver) }
                try await self.manager.run()
            }
            group.addTask {
                for await line in lines { sink.yield(.line(line)) }
                sink.yield(.endOfInput)
            }
            let ending = await converse(inputs)
            await manager.disconnect()
            group.cancelAll()
            try await group.waitForAll()
            return ending
        }
    }

    // MARK: The conversation

    private func converse(_ inputs: AsyncStream<Input>) async -> Ending {
        /// Our nickname while in the room; `nil` while out of it.
        var me: String?
        /// Lines typed while out of the room, or whose delivery the connection interrupted.
        var waiting: [String] = []
        for await input in inputs {
            switch input {
            case .connected:
                switch await enterRoom() {
                case .entered(let nick): me = nick
                case .interrupted: me = nil
                case .refused: return .failed
                }
            case .disconnected:
                me = nil
            case .line(let raw):
                let text = raw.trimmingCharacters(in: .whitespaces)
                if text == "/quit" { return .left }
                guard !text.isEmpty else { continue }
                waiting.append(text)
                if me == nil { Console.line("* not in #\(room) right now: the message goes out once back") }
            case .endOfInput:
                return .left
            case .connectionOver:
                Console.line("* the connection is closed for good")
                return .failed
            }
            while let current = me, let text = waiting.first {
                switch await post(text, as: current) {
                case .delivered, .dropped:
                    waiting.removeFirst()
                case .retryLater:
                    me = nil
                }
            }
        }
        return .left
    }

    /// Restates the nickname and joins the room: a new connection is a new socket on the
    /// server.
    private func enterRoom() async -> Entry {
        do {
            let named = try await request("nickname", nick)
            guard named.ok else {
                Console.line("* nickname refused: \(named.error ?? "no reason given")")
                return .refused
            }
            let joined = try await request("join", JoinRequest(room: room))
            guard joined.ok else {
                Console.line("* cannot join #\(room): \(joined.error ?? "no reason given")")
                return .refused
            }
            let members = joined.members ?? []
            Console.line("* joined #\(room) as \(joined.nick ?? nick) (\(members.count) here: \(members.joined(separator: ", ")))")
            return .entered(nick: joined.nick ?? nick)
        } catch {
            Console.line("* could not enter #\(room): \(error)")
            return .interrupted
        }
    }

    /// Sends one message and waits for the server's acknowledgement.
    private func post(_ text: String, as me: String) async -> Delivery {
        do {
            let reply = try await request("message", MessageRequest(room: room, text: text))
            guard reply.ok, let time = reply.time else {
                Console.line("* not sent: \(reply.error ?? "no reason given")")
                return .dropped
            }
            Console.line("[\(Console.clock(time))] \(me): \(text)")
            return .delivered
        } catch is SocketDisconnectedClientError {
            Console.line("* the connection dropped before the acknowledgement: sending again once back")
            return .retryLater
        } catch is ClientAckTimeoutError {
            Console.line("* no acknowledgement within \(Self.ackTimeout): the message may not have arrived")
            return .dropped
        } catch {
            Console.line("* not sent: \(error)")
            return .dropped
        }
    }

    private func request(_ event: String, _ argument: any Encodable & Sendable) async throws -> ChatReply {
        try await socket.emitWithAck(event, argument, timeout: Self.ackTimeout).decode(ChatReply.self, at: 0)
    }

    // MARK: Notices

    /// Installs the handlers: server notices are printed, connection changes also feed `sink`.
    private func listen(_ sink: AsyncStream<Input>.Continuation) {
        let room = self.room
        socket.on("message") { event in
            let message = try event.argument(0, as: IncomingMessage.self)
            guard message.room == room else { return }
            Console.line("[\(Console.clock(message.time))] \(message.from): \(message.text)")
        }
        socket.on("joined") { event in
            let notice = try event.argument(0, as: MemberNotice.self)
            Console.line("* \(notice.nick) joined #\(notice.room)")
        }
        socket.on("left") { event in
            let notice = try event.argument(0, as: MemberNotice.self)
            Console.line("* \(notice.nick) left #\(notice.room)")
        }
        socket.on("renamed") { event in
            let notice = try event.argument(0, as: RenameNotice.self)
            Console.line("* \(notice.from) is now \(notice.to)")
        }
        socket.on("typing") { event in
            let notice = try event.argument(0, as: TypingNotice.self)
            Console.line(notice.typing ? "* \(notice.nick) is typing…" : "* \(notice.nick) stopped typing")
        }
        // `welcome` names a new socket "guest-…"; entering the room replaces that name.
        socket.on("welcome") { _ in }

        let manager = self.manager
        socket.onConnect {
            Console.line("* connected (\(manager.transport?.rawValue ?? "closed"))")
            sink.yield(.connected)
        }
        socket.onDisconnect { reason in
            Console.line("* disconnected: \(reason.code)")
            sink.yield(.disconnected)
        }
        socket.onConnectError { refusal in
            Console.line("* refused: \(refusal.message)")
        }
        manager.onReconnectAttempt { attempt in Console.line("* reconnect attempt \(attempt)") }
        manager.onReconnect { _ in Console.line("* reconnected") }
        manager.onReconnectFailed { Console.line("* giving up reconnecting") }
    }
}
