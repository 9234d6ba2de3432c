/// Room membership of one namespace: which sockets are in a room and which rooms a socket
/// is in, kept consistent both ways. A pure value; the namespace guards it with a lock.
///
/// Every socket is in the room named by its own id. That room is implicit — it is never
/// stored, so an idle socket costs the table nothing — and cannot be left.
struct RoomTable: Sendable {
    private(set) var members: [String: Set<String>] = [:]
    private(set) var roomsOfSocket: [String: Set<String>] = [:]

    /// Adds `socket` to `room`.
    mutating func join(_ socket: String, _ room: String) {
        guard room != socket else { return }
        members[room, default: []].insert(socket)
        roomsOfSocket[socket, default: []].insert(room)
    }

    /// Removes `socket` from `room`; an empty room disappears.
    mutating func leave(_ socket: String, _ room: String) {
        guard room != socket else { return }
        if var sockets = members[room] {
            sockets.remove(socket)
            members[room] = sockets.isEmpty ? nil : sockets
        }
        roomsOfSocket[socket]?.remove(room)
        if roomsOfSocket[socket]?.isEmpty == true { roomsOfSocket[socket] = nil }
    }

    /// Removes `socket` from every room.
    mutating func leaveAll(_ socket: String) {
        for room in roomsOfSocket[socket] ?? [] { leave(socket, room) }
        roomsOfSocket[socket] = nil
    }

    /// The rooms `socket` is in, its own included.
    func rooms(of socket: String) -> Set<String> {
        var rooms = roomsOfSocket[socket] ?? []
        rooms.insert(socket)
        return rooms
    }

    /// The ids of the sockets selected by a broadcast: in any of `rooms` (every socket when
    /// empty), not in any of `exceptRooms`, and not `exceptSocket`.
    ///
    /// - Parameter sockets: every socket of the namespace, by id (a room named by a socket id
    ///   holds that socket).
    func recipients(rooms: Set<String>, exceptRooms: Set<String>, exceptSocket: String?, sockets: [String: some Any]) -> [String] {
        if rooms.count == 1, exceptRooms.isEmpty, let room = rooms.first {
            // The usual case, one room: its members as they are, no set built.
            var selected: [String] = []
            if let members = members[room] {
                selected.reserveCapacity(members.count + 1)
                for id in members where id != exceptSocket { selected.append(id) }
            }
            // The owner of a socket's own room is never listed among its members.
            if room != exceptSocket, sockets[room] != nil { selected.append(room) }
            return selected
        }
        var selected: Set<String>
        if rooms.isEmpty {
            selected = Set(sockets.keys)
        } else {
            selected = []
            for room in rooms {
                if let members = members[room] { selected.formUnion(members) }
                if sockets[room] != nil { selected.insert(room) }
            }
        }
        for room in exceptRooms {
            if let members = members[room] { selected.subtract(members) }
            selected.remove(room)
        }
        if let exceptSocket { selected.remove(exceptSocket) }
        return Array(selected)
    }
}
