public import ParleyProtocol

/// The one place where packets leave a namespace and where its sockets are selected: each
/// namespace has an adapter, as in Socket.IO's design.
///
/// ``InProcessAdapter`` is the default: rooms in memory, delivery to this process's sockets.
/// With connection state recovery on, a ``RecoveringAdapter`` wraps it and logs every
/// recoverable packet before it goes out; a cluster adapter wraps it the same way to reach
/// the sockets of other nodes. The calls a cluster must answer over the network are `async`.
///
/// Synchronous calls run on event loops and inside handlers: they must not block.
public protocol SocketAdapter: AnyObject, Sendable {
    // MARK: This node's membership

    /// A socket joined the namespace.
    func add(_ socket: Socket)
    /// A socket left the namespace: it leaves every room.
    func remove(_ socket: Socket)
    /// The socket `id` of this node joins `rooms`.
    func join(_ id: String, _ rooms: [String])
    /// The socket `id` of this node leaves `room`.
    func leave(_ id: String, _ room: String)
    /// The rooms of the socket `id` of this node, its own room included.
    func rooms(of id: String) -> Set<String>
    /// The socket `id`, if it is connected to this node.
    func socket(id: String) -> Socket?
    /// The sockets connected to this node.
    var sockets: [Socket] { get }
    /// The socket `id` of this node belongs to `user` (`Socket.identify(user:)`); a socket
    /// belongs to one user at most, and leaves the index when it leaves the namespace.
    func identify(_ id: String, user: String)
    /// The sockets of `user` connected to this node.
    func sockets(ofUser user: String) -> [Socket]

    // MARK: Reaching sockets

    /// Sends a packet that expects no acknowledgement to the selected sockets.
    func broadcast(_ packet: SocketPacket, to selection: BroadcastSelection, volatile: Bool)
    /// Sends a packet to one socket of this node (`socket.emit`).
    func send(_ packet: SocketPacket, to socket: Socket)
    /// Sends an event to the selected sockets and collects their acknowledgements.
    func broadcastWithAck(_ event: String, _ packet: SocketPacket, to selection: BroadcastSelection, volatile: Bool, timeout: Duration) async throws -> [SocketAck]
    /// The selected sockets.
    func fetchSockets(_ selection: BroadcastSelection) async -> [Socket]
    /// Makes the selected sockets join `rooms`.
    func socketsJoin(_ selection: BroadcastSelection, _ rooms: [String]) async
    /// Makes the selected sockets leave `rooms`.
    func socketsLeave(_ selection: BroadcastSelection, _ rooms: [String]) async
    /// Disconnects the selected sockets; with `close`, their whole connections.
    func disconnectSockets(_ selection: BroadcastSelection, close: Bool) async
}

/// Which sockets of a namespace a broadcast reaches: those in any of `rooms` (every socket
/// when empty), minus those in any of `exceptRooms` and `exceptSocket`.
public struct BroadcastSelection: Sendable, Hashable {
    /// Rooms to reach; empty means every socket.
    public var rooms: Set<String> = []
    /// Rooms whose sockets are left out.
    public var exceptRooms: Set<String> = []
    /// A socket left out (the sender of `socket.broadcast`).
    public var exceptSocket: String?

    /// Creates a selection.
    public init(rooms: Set<String> = [], exceptRooms: Set<String> = [], exceptSocket: String? = nil) {
        self.rooms = rooms
        self.exceptRooms = exceptRooms
        self.exceptSocket = exceptSocket
    }

    /// The rooms left out, the excepted socket's own room included: the form a log keeps.
    var allExceptRooms: Set<String> {
        guard let exceptSocket else { return exceptRooms }
        return exceptRooms.union([exceptSocket])
    }
}
