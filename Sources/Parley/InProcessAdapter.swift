import NIOCore
public import ParleyProtocol
import Synchronization
import NIOConcurrencyHelpers

/// The default adapter: the namespace's sockets and rooms in this process's memory, and
/// delivery that encodes a packet once and writes it to each recipient on its own event loop.
public final class InProcessAdapter: SocketAdapter {
    private struct State {
        var sockets: [String: Socket] = [:]
        var rooms = RoomTable()
        /// The sockets of each user, and the user of each identified socket.
        var users: [String: Set<String>] = [:]
        var userOf: [String: String] = [:]

        mutating func forgetUser(of id: String) {
            guard let user = userOf.removeValue(forKey: id) else { return }
            users[user]?.remove(id)
            if users[user]?.isEmpty == true { users[user] = nil }
        }
    }

    private let state = NIOLockedValueBox(State())

    /// Creates an empty adapter.
    public init() {}

    // MARK: Membership

    public func add(_ socket: Socket) {
        state.withLockedValue { $0.sockets[socket.id] = socket }
    }

    public func remove(_ socket: Socket) {
        state.withLockedValue { state in
            guard state.sockets[socket.id] === socket else { return }
            state.sockets[socket.id] = nil
            state.rooms.leaveAll(socket.id)
            state.forgetUser(of: socket.id)
        }
    }

    public func join(_ id: String, _ rooms: [String]) {
        state.withLockedValue { state in
            guard state.sockets[id] != nil else { return }
            for room in rooms { state.rooms.join(id, room) }
        }
    }

    public func leave(_ id: String, _ room: String) {
        state.withLockedValue { $0.rooms.leave(id, room) }
    }

    public func rooms(of id: String) -> Set<String> {
        state.withLockedValue { $0.rooms.rooms(of: id) }
    }

    public func socket(id: String) -> Socket? {
        state.withLockedValue { $0.sockets[id] }
    }

    public var sockets: [Socket] {
        state.withLockedValue { Array($0.sockets.values) }
    }

    public func identify(_ id: String, user: String) {
        state.withLockedValue { state in
            guard state.sockets[id] != nil else { return }
            state.forgetUser(of: id)
            state.userOf[id] = user
            state.users[user, default: []].insert(id)
        }
    }

    public func sockets(ofUser user: String) -> [Socket] {
        state.withLockedValue { state in (state.users[user] ?? []).compactMap { state.sockets[$0] } }
    }

    /// Whether no socket is connected.
    var isEmpty: Bool { state.withLockedValue { $0.sockets.isEmpty } }

    /// The sockets `selection` reaches.
    public func recipients(_ selection: BroadcastSelection) -> [Socket] {
        state.withLockedValue { state in
            state.rooms.recipients(
                rooms: selection.rooms,
                exceptRooms: selection.exceptRooms,
                exceptSocket: selection.exceptSocket,
                sockets: state.sockets
            ).compactMap { state.sockets[$0] }
        }
    }

    // MARK: Delivery

    public func broadcast(_ packet: SocketPacket, to selection: BroadcastSelection, volatile: Bool) {
        Self.deliver(EncodedPacket(packet), to: recipients(selection), volatile: volatile)
    }

    public func send(_ packet: SocketPacket, to socket: Socket) {
        socket.write(EncodedPacket(packet), volatile: false)
    }

    public func broadcastWithAck(_ event: String, _ packet: SocketPacket, to selection: BroadcastSelection, volatile: Bool, timeout: Duration) async throws -> [SocketAck] {
        let recipients = recipients(selection)
        guard !recipients.isEmpty, let id = packet.ackID else { return [] }
        let encoded = EncodedPacket(packet)
        let collected = NIOLockedValueBox<(answers: [SocketAck], missing: [String], pending: Int)>(([], [], recipients.count))
        return try await withCheckedThrowingContinuation { continuation in
            for socket in recipients {
                socket.expectAck(id, timeout: timeout) { result in
                    let outcome = collected.withLockedValue { collected -> (answers: [SocketAck], missing: [String])? in
                        switch result {
                        case .success(let arguments): collected.answers.append(SocketAck(socketID: socket.id, arguments: arguments))
                        case .failure: collected.missing.append(socket.id)
                        }
                        collected.pending -= 1
                        return collected.pending == 0 ? (collected.answers, collected.missing) : nil
                    }
                    guard let outcome else { return }
                    if outcome.missing.isEmpty {
                        continuation.resume(returning: outcome.answers)
                    } else {
                        continuation.resume(throwing: AckTimeoutError(event: event, missing: outcome.missing.sorted(), received: outcome.answers))
                    }
                }
            }
            Self.deliver(encoded, to: recipients, volatile: volatile)
        }
    }

    public func fetchSockets(_ selection: BroadcastSelection) async -> [Socket] {
        recipients(selection)
    }

    public func socketsJoin(_ selection: BroadcastSelection, _ rooms: [String]) async {
        for socket in recipients(selection) { socket.join(rooms) }
    }

    public func socketsLeave(_ selection: BroadcastSelection, _ rooms: [String]) async {
        for socket in recipients(selection) {
            for room in rooms { socket.leave(room) }
        }
    }

    public func disconnectSockets(_ selection: BroadcastSelection, close: Bool) async {
        for socket in recipients(selection) { socket.disconnect(close: close) }
    }

    /// Writes one encoded packet to many sockets: one hop per event loop, not per socket.
    static func deliver(_ packet: EncodedPacket, to sockets: [Socket], volatile: Bool) {
        if sockets.count == 1, let socket = sockets.first, socket.eventLoop.inEventLoop {
            socket.write(packet, volatile: volatile)
            return
        }
        var byLoop: [ObjectIdentifier: (loop: any EventLoop, sockets: [Socket])] = [:]
        for socket in sockets {
            let loop = socket.eventLoop
            byLoop[ObjectIdentifier(loop), default: (loop, [])].sockets.append(socket)
        }
        for (_, group) in byLoop {
            let write: @Sendable () -> Void = {
                for socket in group.sockets { socket.write(packet, volatile: volatile) }
            }
            if group.loop.inEventLoop { write() } else { group.loop.execute(write) }
        }
    }
}
