import Logging
import ParleyStore
public import NIOCore
import ParleyEngine
import ParleyProtocol
import Synchronization

/// One client's membership of one namespace: the object application code talks to.
///
/// Handlers run on the connection's event loop, one at a time; they must not block.
///
/// ```swift
/// namespace.onConnection { socket in
///     socket.join("lobby")
///     socket.on("chat") { event in
///         try socket.to("lobby").emit("chat", try event.argument(0, as: String.self))
///     }
/// }
/// ```
public final class Socket: Sendable {
    /// The socket id: public, distinct from the private Engine.IO session id.
    public let id: String
    /// The namespace the socket belongs to.
    public let namespace: Namespace
    /// The CONNECT request that created the socket.
    public let handshake: SocketHandshake
    /// Application data attached to this socket.
    public let data: SocketData
    /// Whether the socket is one its client had before losing its connection, given back
    /// with its rooms and data and the packets it missed (connection state recovery).
    public let recovered: Bool
    /// The private session id the client presents to recover the socket; `nil` when
    /// connection state recovery is off.
    let pid: String?
    let transport: any SocketTransport
    let client: SocketClient
    let state = Mutex(SocketState())
    /// While a recovered socket's missed packets are read, live packets wait behind them.
    let isHolding = Atomic<Bool>(false)
    /// The device the client named in its CONNECT payload (`deviceId`), `""` when none
    /// (`Protocol/reliable.md` § 1).
    public let device: String
    /// Events with an idempotency key, handled one at a time in arrival order.
    let keyedEvents = SerialWork()

    init(namespace: Namespace, handshake: SocketHandshake, client: SocketClient) {
        self.id = SocketID.make()
        self.namespace = namespace
        self.handshake = handshake
        self.client = client
        self.transport = client.transport
        self.data = SocketData()
        self.recovered = false
        self.pid = namespace.recovering == nil ? nil : SocketID.make()
        self.device = ReliableIdentity.deviceID(in: handshake.authJSON) ?? ""
        if let user = handshake.user { state.withLock { $0.user = user } }
    }

    /// A socket taken back from a session.
    init(namespace: Namespace, handshake: SocketHandshake, client: SocketClient, restoring session: SessionRecord, data: SocketData) {
        self.id = session.socketID
        self.namespace = namespace
        self.handshake = handshake
        self.client = client
        self.transport = client.transport
        self.data = data
        self.recovered = true
        self.pid = session.pid
        self.device = ReliableIdentity.deviceID(in: handshake.authJSON) ?? ""
        self.isHolding.store(true, ordering: .releasing)
        if let user = handshake.user ?? data.get(ReliableIdentity.userDataKey, as: String.self) {
            state.withLock { $0.user = user }
        }
    }

    /// Whether the socket is still in its namespace.
    public var isConnected: Bool { state.withLock { $0.connected } }

    /// The event loop the socket's handlers run on.
    public var eventLoop: any EventLoop { transport.eventLoop }

    // MARK: Handlers

    /// Runs `handler` for every event named `event` (replacing an earlier handler for it).
    public func on(_ event: String, _ handler: @escaping @Sendable (SocketEvent) throws -> Void) {
        state.withLock { state in
            state.handlers[event] = handler
            state.answerHandlers[event] = nil
        }
    }

    /// Runs `handler` for every event named `event` and acknowledges the event with its result.
    public func on<Result: Encodable & Sendable>(_ event: String, answer handler: @escaping @Sendable (SocketEvent) async throws -> Result) {
        let logger = namespace.core.logger
        on(event) { event in
            event.socket.client.spawn {
                do {
                    try event.ack(try await handler(event))
                } catch is CancellationError {
                    // The server is shutting down.
                } catch {
                    logger.error("event handler failed", metadata: ["parley.event": "\(event.name)", "parley.error": "\(error)"])
                }
            }
        }
        // An event with an idempotency key awaits the handler itself (`Protocol/reliable.md` § 5).
        state.withLock { $0.answerHandlers[event] = { event in try await handler(event) } }
    }

    /// Runs `handler` for events that have no handler of their own.
    public func onAny(_ handler: @escaping @Sendable (SocketEvent) throws -> Void) {
        state.withLock { $0.catchAll = handler }
    }

    /// Runs `handler` when the socket is about to leave, while it still sees its rooms.
    public func onDisconnecting(_ handler: @escaping @Sendable (SocketDisconnectReason) -> Void) {
        state.withLock { $0.disconnectingHandlers.append(handler) }
    }

    /// Runs `handler` once the socket has left its namespace.
    public func onDisconnect(_ handler: @escaping @Sendable (SocketDisconnectReason) -> Void) {
        state.withLock { $0.disconnectHandlers.append(handler) }
    }

    // MARK: Rooms

    /// Adds the socket to rooms of its namespace.
    public func join(_ rooms: String...) {
        join(rooms)
    }

    /// Adds the socket to rooms of its namespace.
    public func join(_ rooms: [String]) {
        namespace.adapter.join(id, rooms)
    }

    /// Removes the socket from a room.
    public func leave(_ room: String) {
        namespace.adapter.leave(id, room)
    }

    /// The rooms the socket is in (its own room, named by its id, included).
    public var rooms: Set<String> {
        namespace.adapter.rooms(of: id)
    }

    /// A broadcast to `rooms` that leaves this socket out.
    public func to(_ rooms: String...) -> BroadcastOperator {
        broadcast.to(rooms)
    }

    /// A broadcast to every other socket of the namespace, except those in `rooms`.
    public func except(_ rooms: String...) -> BroadcastOperator {
        broadcast.except(rooms)
    }

    /// A broadcast to every other socket of the namespace.
    public var broadcast: BroadcastOperator {
        BroadcastOperator(namespace: namespace, exceptSocket: id)
    }

    // MARK: Disconnect

    /// Removes the socket from its namespace with reason `server namespace disconnect`.
    ///
    /// - Parameter close: also close the whole connection (every namespace of this client).
    public func disconnect(close: Bool = false) {
        client.onLoop { client in
            if close {
                client.close(EngineCloseReason(.forcedClose), socketReason: SocketDisconnectReason(.forcedServerClose))
            } else {
                client.serverDisconnected(self)
            }
        }
    }
}

/// The mutable part of a socket, behind its lock.
struct SocketState: Sendable {
    var connected = true
    var handlers = SmallTable<@Sendable (SocketEvent) throws -> Void>()
    var catchAll: (@Sendable (SocketEvent) throws -> Void)?
    var answerHandlers = SmallTable<@Sendable (SocketEvent) async throws -> any Encodable & Sendable>()
    /// The user the application named (reliable delivery).
    var user: String?
    /// The connection handlers ran: reliable delivery may start.
    var ready = false
    var disconnectingHandlers: [@Sendable (SocketDisconnectReason) -> Void] = []
    var disconnectHandlers: [@Sendable (SocketDisconnectReason) -> Void] = []
    var pendingAcks: [UInt64: AckWaiter] = [:]
    /// Live packets that arrived while the socket's missed packets were being read.
    var held: [EncodedPacket] = []
}

/// Public socket ids: 20 URL-safe characters from the system's cryptographic random source.
enum SocketID {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let characters = (0..<20).map { _ in alphabet[Int(generator.next(upperBound: UInt8(64)))] }
        return String(decoding: characters, as: UTF8.self)
    }
}
