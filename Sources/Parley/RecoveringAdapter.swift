import NIOCore
public import ParleyProtocol
import ParleyStore
import Synchronization
import NIOConcurrencyHelpers

/// The adapter of a namespace with connection state recovery on: it gives every recoverable
/// packet an offset and logs it before the packet goes out, and keeps each socket's session
/// (id, rooms, data) in the store so that its client can take it back
/// (`Protocol/recovery.md`).
///
/// Recoverable: events without an ack id that are not volatile, binary ones included, whether
/// broadcast or sent to one socket. Acks, volatile events and events that expect an ack go out
/// unlogged, as in the reference server.
public final class RecoveringAdapter: SocketAdapter {
    /// The adapter that reaches this node's sockets.
    public let local: InProcessAdapter
    let namespace: String
    let runtime: RecoveryRuntime
    /// This node's connected sockets by private session id.
    private let byPID = NIOLockedValueBox<[String: Socket]>([:])

    init(local: InProcessAdapter, namespace: String, runtime: RecoveryRuntime) {
        self.local = local
        self.namespace = namespace
        self.runtime = runtime
    }

    // MARK: Membership: rooms are part of the session, so a change is saved

    public func add(_ socket: Socket) {
        local.add(socket)
        if let pid = socket.pid { byPID.withLockedValue { $0[pid] = socket } }
    }

    public func remove(_ socket: Socket) {
        local.remove(socket)
        if let pid = socket.pid {
            byPID.withLockedValue { table in
                if table[pid] === socket { table[pid] = nil }
            }
        }
    }

    /// The connected socket whose private session id is `pid`.
    func socket(pid: String) -> Socket? {
        byPID.withLockedValue { $0[pid] }
    }

    public func join(_ id: String, _ rooms: [String]) {
        local.join(id, rooms)
        if let socket = local.socket(id: id) { saveSession(of: socket) }
    }

    public func leave(_ id: String, _ room: String) {
        local.leave(id, room)
        if let socket = local.socket(id: id) { saveSession(of: socket) }
    }

    public func rooms(of id: String) -> Set<String> { local.rooms(of: id) }

    public func socket(id: String) -> Socket? { local.socket(id: id) }

    public var sockets: [Socket] { local.sockets }

    public func identify(_ id: String, user: String) { local.identify(id, user: user) }

    public func sockets(ofUser user: String) -> [Socket] { local.sockets(ofUser: user) }

    // MARK: Delivery

    public func broadcast(_ packet: SocketPacket, to selection: BroadcastSelection, volatile: Bool) {
        guard !volatile, let logged = record(packet, rooms: selection.rooms, exceptRooms: selection.allExceptRooms) else {
            local.broadcast(packet, to: selection, volatile: volatile)
            return
        }
        InProcessAdapter.deliver(logged, to: local.recipients(selection), volatile: false)
    }

    public func send(_ packet: SocketPacket, to socket: Socket) {
        guard let logged = record(packet, rooms: [socket.id], exceptRooms: []) else {
            local.send(packet, to: socket)
            return
        }
        socket.write(logged, volatile: false)
    }

    public func broadcastWithAck(_ event: String, _ packet: SocketPacket, to selection: BroadcastSelection, volatile: Bool, timeout: Duration) async throws -> [SocketAck] {
        try await local.broadcastWithAck(event, packet, to: selection, volatile: volatile, timeout: timeout)
    }

    public func fetchSockets(_ selection: BroadcastSelection) async -> [Socket] {
        await local.fetchSockets(selection)
    }

    public func socketsJoin(_ selection: BroadcastSelection, _ rooms: [String]) async {
        await local.socketsJoin(selection, rooms)
    }

    public func socketsLeave(_ selection: BroadcastSelection, _ rooms: [String]) async {
        await local.socketsLeave(selection, rooms)
    }

    public func disconnectSockets(_ selection: BroadcastSelection, close: Bool) async {
        await local.disconnectSockets(selection, close: close)
    }

    /// Gives a recoverable packet its offset and queues it for the log; the packet encoded
    /// once, for the log and the wire alike. `nil` for a packet that is not recoverable (or
    /// before the server started).
    private func record(_ packet: SocketPacket, rooms: Set<String>, exceptRooms: Set<String>) -> EncodedPacket? {
        guard packet.ackID == nil, packet.type == .event || packet.type == .binaryEvent, let log = runtime.log else { return nil }
        let sequence = log.nextSequence()
        let logged = packet.appendingStringArgument(RecoveryOffset(epoch: log.epoch, sequence: sequence).description)
        var text = ByteBuffer()
        SocketPacketEncoder.encode(logged, into: &text)
        log.append(LogEntry(
            sequence: sequence,
            namespace: namespace,
            rooms: Array(rooms),
            exceptRooms: Array(exceptRooms),
            packet: text,
            attachments: logged.attachments,
            timeMilliseconds: log.now
        ))
        return EncodedPacket(text: text, attachments: logged.attachments, sequence: sequence)
    }

    // MARK: Sessions

    /// Saves the session of a connected socket, so that it survives a crash of the server.
    func saveSession(of socket: Socket) {
        guard let pid = socket.pid, socket.isConnected else { return }
        runtime.save(socket: socket, pid: pid, rooms: local.rooms(of: socket.id), disconnectedAt: nil)
    }

    /// A socket left: its session is kept if the reason allows recovery, removed otherwise.
    func socketLeft(_ socket: Socket, rooms: Set<String>, reason: SocketDisconnectReason) {
        guard let pid = socket.pid else { return }
        if reason.allowsRecovery {
            runtime.save(socket: socket, pid: pid, rooms: rooms, disconnectedAt: runtime.log?.now ?? 0)
        } else {
            runtime.removeSession(pid: pid)
        }
    }
}

extension SocketDisconnectReason {
    /// Whether the client may recover the socket: the connection was lost or closed by the
    /// server, not ended on purpose by either side (`Protocol/recovery.md` § 4).
    var allowsRecovery: Bool {
        switch code {
        case .transportClose, .transportError, .pingTimeout, .forcedClose, .forcedServerClose, .serverShuttingDown, .slowConsumer: true
        default: false
        }
    }
}
