import Foundation
import Logging
import ParleyProtocol
import ParleyStore
import Synchronization

/// Events that carry Parley's marker (`Protocol/reliable.md` § 2): per-user messages are passed
/// on once and acknowledged (§ 3.2, § 6.2); live room messages are passed on when newer than the
/// room's position, which they move (§ 4.1, § 6.3).
extension ClientSocket {
    /// Handles an event whose marker was taken out of `arguments`. Called in the order events
    /// arrive, by the manager's receiving task, which waits for the store each time.
    func reliableEventReceived(_ name: String, _ arguments: SocketArguments, marker: ReliableMarker, ackID: UInt64?, runtime: ClientReliableRuntime) async {
        if let id = marker.id {
            // Passed on, then recorded, then acknowledged: a process that dies in between gets
            // the message again rather than losing it (`Protocol/reliable.md` § 6.2).
            do {
                if try await runtime.store.hasReceived(id, namespace: namespace) {
                    state.withLock { $0.reliable.repeatsDropped += 1 }
                    skip(arguments)
                } else {
                    deliver(ClientEvent(name: name, arguments: arguments, reply: nil, reliableID: id))
                    _ = try await runtime.store.recordReceived(id, namespace: namespace, keeping: runtime.configuration.deduplicationWindow)
                }
            } catch {
                // Not acknowledged: the server delivers it again on the next connection.
                manager.logger.error("could not record a received message id", metadata: ["parley.nsp": "\(namespace)", "parley.id": "\(id)", "parley.error": "\(error)"])
                return
            }
            if let ackID {
                // `[]` always encodes.
                try? ClientAckReply(id: ackID, socket: self).send([])
            }
            return
        }
        let reply = ackID.map { ClientAckReply(id: $0, socket: self) }
        if let room = marker.room, let offset = marker.offset {
            guard await advanceRoomPosition(room, to: offset, runtime: runtime) else {
                skip(arguments)
                return
            }
            deliver(ClientEvent(name: name, arguments: arguments, reply: reply, room: room, roomOffset: offset))
            return
        }
        deliver(ClientEvent(name: name, arguments: arguments, reply: reply))
    }

    /// How many reliable messages this socket dropped as repeats of ones already passed on
    /// (`Protocol/reliable.md` § 6.2), since it was created.
    public var repeatsDropped: Int { state.withLock { $0.reliable.repeatsDropped } }

    /// The offset remembered for `room`: read from the store once, then kept.
    ///
    /// - Throws: `StoreError`.
    func roomPosition(_ room: String, runtime: ClientReliableRuntime) async throws -> String? {
        if let known = state.withLock({ $0.reliable.roomPositions[room] }) { return known }
        let stored = try await runtime.store.roomPosition(namespace: namespace, room: room)
        return state.withLock { state in
            // Moved meanwhile (a live message, a history page): that is newer.
            if let known = state.reliable.roomPositions[room] { return known }
            if let stored { state.reliable.roomPositions[room] = stored }
            return stored
        }
    }

    /// Moves the position of `room` to `offset` if that is newer (`RoomOffsetOrder`) and
    /// persists it.
    ///
    /// - Returns: whether it moved; a message at or below the position is a repeat.
    func advanceRoomPosition(_ room: String, to offset: String, runtime: ClientReliableRuntime) async -> Bool {
        let remembered: String?
        do {
            remembered = try await roomPosition(room, runtime: runtime)
        } catch {
            manager.logger.error("could not read a room position", metadata: ["parley.room": "\(room)", "parley.error": "\(error)"])
            remembered = nil
        }
        let moved = state.withLock { state in
            let current = state.reliable.roomPositions[room] ?? remembered
            guard RoomOffsetOrder.isNewer(offset, than: current) else { return false }
            state.reliable.roomPositions[room] = offset
            return true
        }
        if moved { await persistRoomPosition(room, runtime: runtime) }
        return moved
    }

    /// Writes the position of `room` until the store holds the latest one: two writers may
    /// finish in the other order than they started.
    private func persistRoomPosition(_ room: String, runtime: ClientReliableRuntime) async {
        var written: String?
        while let latest = state.withLock({ $0.reliable.roomPositions[room] }), latest != written {
            do {
                try await runtime.store.setRoomPosition(latest, namespace: namespace, room: room)
            } catch {
                manager.logger.error("could not keep a room position", metadata: ["parley.room": "\(room)", "parley.error": "\(error)"])
                return
            }
            written = latest
        }
    }
}
