import Logging
import NIOCore
import ParleyProtocol
import Synchronization

/// A namespace: its own sockets, rooms, middlewares and connection handlers, multiplexed with
/// the others over each client's single connection.
///
/// ```swift
/// let admin = server.of("/admin")
/// admin.use { handshake in
///     guard try handshake.auth(as: Token.self)?.isAdmin == true else { throw ConnectError("forbidden") }
/// }
/// admin.onConnection { socket in try? socket.emit("hello") }
/// ```
public final class Namespace: Sendable {
    /// A check run, in order, before a socket is created; throwing refuses the connection.
    public typealias Middleware = @Sendable (SocketHandshake) async throws -> Void

    /// The namespace name, e.g. `/` or `/admin`.
    public let name: String
    let core: SocketServerCore
    private let state: Mutex<State>
    private let ackIDs = Atomic<UInt64>(0)
    /// Created on demand from a client-chosen name; removed when its last socket leaves.
    let isDynamicChild: Bool

    struct State: Sendable {
        var sockets: [String: Socket] = [:]
        var rooms = RoomTable()
        var middlewares: [Middleware] = []
        var connectionHandlers: [@Sendable (Socket) -> Void] = []
    }

    init(name: String, core: SocketServerCore, inheriting parent: Namespace? = nil) {
        self.name = name
        self.core = core
        self.isDynamicChild = parent != nil
        var state = State()
        if let parent {
            let inherited = parent.state.withLock { ($0.middlewares, $0.connectionHandlers) }
            state.middlewares = inherited.0
            state.connectionHandlers = inherited.1
        }
        self.state = Mutex(state)
    }

    /// Adds a middleware; middlewares run in the order added, before the socket exists.
    public func use(_ middleware: @escaping Middleware) {
        state.withLock { $0.middlewares.append(middleware) }
    }

    /// Runs `handler` for every new socket, after the client got its CONNECT reply.
    public func onConnection(_ handler: @escaping @Sendable (Socket) -> Void) {
        state.withLock { $0.connectionHandlers.append(handler) }
    }

    /// Every connected socket of this namespace.
    public var sockets: [Socket] {
        state.withLock { Array($0.sockets.values) }
    }

    /// The socket with this id, if connected here.
    public func socket(id: String) -> Socket? {
        state.withLock { $0.sockets[id] }
    }

    /// A broadcast to every socket of the namespace, to be narrowed with `to`, `except`, ….
    public var broadcast: BroadcastOperator {
        BroadcastOperator(namespace: self)
    }

    // MARK: Internals

    var middlewares: [Middleware] { state.withLock { $0.middlewares } }

    var connectionHandlers: [@Sendable (Socket) -> Void] { state.withLock { $0.connectionHandlers } }

    /// Ack ids come from one counter per namespace, so one encoded broadcast can carry the
    /// same id to every recipient. Kept below 2^53 (`Protocol/socket.md`).
    func nextAckID() -> UInt64 {
        ackIDs.wrappingAdd(1, ordering: .relaxed).oldValue % SocketPacket.maxAckID
    }

    func add(_ socket: Socket) {
        state.withLock { state in
            state.sockets[socket.id] = socket
        }
    }

    func remove(_ socket: Socket) {
        let empty = state.withLock { state in
            state.sockets[socket.id] = nil
            state.rooms.leaveAll(socket.id)
            return state.sockets.isEmpty
        }
        if empty, isDynamicChild { core.removeIfEmpty(self) }
    }

    /// Whether no socket is connected.
    var isEmpty: Bool { state.withLock { $0.sockets.isEmpty } }

    func join(_ socketID: String, _ rooms: [String]) {
        state.withLock { state in
            guard state.sockets[socketID] != nil else { return }
            for room in rooms { state.rooms.join(socketID, room) }
        }
    }

    func leave(_ socketID: String, _ room: String) {
        state.withLock { $0.rooms.leave(socketID, room) }
    }

    func rooms(of socketID: String) -> Set<String> {
        state.withLock { $0.rooms.rooms(of: socketID) }
    }

    /// The sockets a broadcast selects.
    func recipients(of operation: BroadcastOperator) -> [Socket] {
        state.withLock { state in
            state.rooms.recipients(
                rooms: operation.rooms,
                exceptRooms: operation.exceptRooms,
                exceptSocket: operation.exceptSocket,
                sockets: state.sockets
            ).compactMap { state.sockets[$0] }
        }
    }
}
