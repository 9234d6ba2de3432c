import GRDB
public import ParleyStore

/// Room histories: reading them, and the row helpers that commits and retention share.
extension SQLiteReliableStore {
    /// A page of the history of `room`, read in one snapshot that a commit in progress does not
    /// block.
    public func history(of room: RoomKey, after offset: UInt64?, limit: Int, newest: Bool) async throws -> HistoryPage {
        try await file.withPool("history") { pool in
            try await pool.read { db in try Self.history(db, room, after: offset, limit: limit, newest: newest) }
        }
    }

    private static func history(_ db: Database, _ key: RoomKey, after offset: UInt64?, limit: Int, newest: Bool) throws -> HistoryPage {
        let room = try fetchRoom(RawStatements(db), key) ?? RoomRow(id: 0, nextOffset: 1, trimmedThrough: 0)
        let latest = UInt64(room.nextOffset - 1)
        let oldestKept = UInt64(room.trimmedThrough + 1)
        let range = HistoryRange(after: offset, limit: limit, newest: newest, latest: latest, oldestKept: oldestKept)
        let select: Statement
        let arguments: StatementArguments
        switch range.selection {
        case .none:
            return HistoryPage(messages: [], latest: latest, oldestKept: oldestKept, truncated: range.truncated)
        case .newest:
            select = try db.cachedStatement(sql: """
                SELECT room_offset, time, payload, attachments FROM room_message
                WHERE room_id = ? ORDER BY room_offset DESC LIMIT ?
                """)
            arguments = [room.id, limit]
        case .after(let offset):
            select = try db.cachedStatement(sql: """
                SELECT room_offset, time, payload, attachments FROM room_message
                WHERE room_id = ? AND room_offset > ? ORDER BY room_offset LIMIT ?
                """)
            arguments = [room.id, Int64(offset), limit]
        }
        let rows = try Row.fetchCursor(select, arguments: arguments)
        var messages: [HistoryMessage] = []
        while let row = try rows.next() {
            let offset = try UInt64(row.decode(Int64.self, atIndex: 0))
            let message = try storedMessage(row, startingAt: 1, name: "\(key) message \(offset)")
            messages.append(HistoryMessage(offset: offset, message: message))
        }
        if range.selection == .newest { messages.reverse() }
        return HistoryPage(messages: messages, latest: latest, oldestKept: oldestKept, truncated: range.truncated)
    }

    /// A room's row of `room`: its id and the bounds of its history.
    struct RoomRow {
        var id: Int64
        /// The offset of the next message appended.
        var nextOffset: Int64
        /// The highest offset removed; the history holds `trimmedThrough + 1 ..< nextOffset`.
        var trimmedThrough: Int64
    }

    /// The row of `room`, when the room has one.
    static func fetchRoom(_ sql: RawStatements, _ room: RoomKey) throws -> RoomRow? {
        try sql("SELECT id, next_offset, trimmed_through FROM room WHERE namespace = ? AND room = ?")
            .fetchFirst(room.namespace, room.room) { row in
                RoomRow(id: row.integer(at: 0), nextOffset: row.integer(at: 1), trimmedThrough: row.integer(at: 2))
            }
    }

    /// Creates the row of a room without history.
    static func insertRoom(_ sql: RawStatements, _ room: RoomKey) throws -> RoomRow {
        try sql("INSERT INTO room (namespace, room, next_offset, trimmed_through) VALUES (?, ?, 1, 0)")
            .execute(room.namespace, room.room)
        return RoomRow(id: sql.db.lastInsertedRowID, nextOffset: 1, trimmedThrough: 0)
    }

    /// Removes the messages of room `id` through `offset`; the caller records the room's new
    /// `trimmed_through`.
    ///
    /// - Returns: the number removed.
    static func deleteRoomMessages(_ sql: RawStatements, room id: Int64, through offset: Int64) throws -> Int {
        try sql("DELETE FROM room_message WHERE room_id = ? AND room_offset <= ?").execute(id, offset)
        return sql.db.changesCount
    }
}
