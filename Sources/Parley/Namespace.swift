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

    /// Where the namespace's packets leave and its sockets are selected.
    public let adapter: any SocketAdapter
    /// The adapter's in-process part: this node's sockets and rooms.
    let local: InProcessAdapter
    /// The adapter as a recovering one, when connection state recovery is on.
    let recovering: RecoveringAdapter?

    struct State: Sendable {
        var middlewares: [Middleware] = []
        var connectionHandlers: [@Sendable (Socket) -> Void] = []
    }

    init(name: String, core: SocketServerCore, inheriting parent: Namespace? = nil) {
        self.name = name
        self.core = core
        self.isDynamicChild = parent != nil
        let local = InProcessAdapter()
        self.local = local
        if let runtime = core.recovery {
            let recovering = RecoveringAdapter(local: local, namespace: name, runtime: runtime)
            self.recovering = recovering
            self.adapter = recovering
        } else {
            self.recovering = nil
            self.adapter = local
        }
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
        adapter.sockets
    }

    /// The socket with this id, if connected here.
    public func socket(id: String) -> Socket? {
        adapter.socket(id: id)
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
        adapter.add(socket)
    }

    func remove(_ socket: Socket) {
        adapter.remove(socket)
        if isDynamicChild, local.isEmpty { core.removeIfEmpty(self) }
    }

    /// Whether no socket is connected.
    var isEmpty: Bool { local.isEmpty }
}
