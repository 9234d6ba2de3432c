/// Room membership of one namespace: which sockets are in a room and which rooms a socket
/// is in, kept consistent both ways. A pure value; the namespace guards it with a lock.
struct RoomTable: Sendable {
    private(set) var members: [String: Set<String>] = [:]
    private(set) var roomsOfSocket: [String: Set<String>] = [:]

    /// Adds `socket` to `room`.
    mutating func join(_ socket: String, _ room: String) {
        members[room, default: []].insert(socket)
        roomsOfSocket[socket, default: []].insert(room)
    }

    /// Removes `socket` from `room`; an empty room disappears.
    mutating func leave(_ socket: String, _ room: String) {
        if var sockets = members[room] {
            sockets.remove(socket)
            members[room] = sockets.isEmpty ? nil : sockets
        }
        roomsOfSocket[socket]?.remove(room)
    }

    /// Removes `socket` from every room.
    mutating func leaveAll(_ socket: String) {
        for room in roomsOfSocket[socket] ?? [] { leave(socket, room) }
        roomsOfSocket[socket] = nil
    }

    /// The rooms `socket` is in.
    func rooms(of socket: String) -> Set<String> {
        roomsOfSocket[socket] ?? []
    }

    /// The sockets selected by a broadcast: in any of `rooms` (every socket when empty), not
    /// in any of `exceptRooms`, and not `exceptSocket`.
    func recipients(rooms: Set<String>, exceptRooms: Set<String>, allSockets: some Collection<String>) -> Set<String> {
        var selected: Set<String>
        if rooms.isEmpty {
            selected = Set(allSockets)
        } else {
            selected = []
            for room in rooms { selected.formUnion(members[room] ?? []) }
        }
        for room in exceptRooms { selected.subtract(members[room] ?? []) }
        return selected
    }
}
