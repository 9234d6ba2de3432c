import GRDB
public import ParleyStore

/// Retention, and reading idempotency records.
extension SQLiteReliableStore {
    /// The record of the idempotency `key` in `scope`, if the store still has it.
    public func idempotencyRecord(_ scope: IdempotencyScope, key: String) async throws -> IdempotencyRecord? {
        try await file.withPool("idempotencyRecord") { pool in
            try await pool.read { db -> IdempotencyRecord? in
                let select = try db.cachedStatement(sql: """
                    SELECT digest, response, attachments, time FROM idempotency
                    WHERE namespace = ? AND user = ? AND device = ? AND key = ?
                    """)
                guard let row = try Row.fetchOne(select, arguments: [scope.namespace, scope.user, scope.device, key]) else { return nil }
                guard let attachments = try row.withUnsafeData(atIndex: 2, ColumnCoding.decodeByteAttachments) else {
                    throw StoreError(.corrupt, detail: "damaged attachments in the record of key \(key)")
                }
                return try IdempotencyRecord(
                    scope: scope,
                    key: key,
                    digest: UInt64(bitPattern: row.decode(Int64.self, atIndex: 0)),
                    response: row.withUnsafeData(atIndex: 1) { $0.map(Array.init) } ?? [],
                    responseAttachments: attachments,
                    timeMilliseconds: row.decode(Int64.self, atIndex: 3)
                )
            }
        }
    }

    /// Removes what retention no longer keeps, in one write transaction, in the order and with
    /// the rules of ``ReliableStore/trim(_:now:)``. Each pass costs what it removes: queued
    /// messages are walked from the oldest sequence, the other rows are found through indexes
    /// on their times.
    public func trim(_ retention: ReliableRetention, now: Int64) async throws -> ReliableTrimResult {
        try await file.withPool("trim") { pool in
            try await pool.write { db in
                var result = ReliableTrimResult()
                let sql = RawStatements(db)
                try Self.forgetDevices(sql, seenBefore: retention.devicesSeenBefore, into: &result)
                try Self.dropMessages(db, before: retention.messagesBefore, into: &result)
                try Self.trimRooms(sql, before: retention.roomMessagesBefore, into: &result)
                try db.execute(sql: "DELETE FROM idempotency WHERE time < ?", arguments: [retention.keysBefore])
                result.keys += db.changesCount
                try db.execute(sql: "DELETE FROM origin WHERE time < ?", arguments: [retention.keysBefore])
                result.keys += db.changesCount
                return result
            }
        }
    }

    private static func forgetDevices(_ sql: RawStatements, seenBefore cut: Int64, into result: inout ReliableTrimResult) throws {
        let db = sql.db
        let queues = try Int64.fetchAll(db, sql: "SELECT DISTINCT queue_id FROM device WHERE last_seen < ?", arguments: [cut])
        guard !queues.isEmpty else { return }
        try db.execute(sql: "DELETE FROM device WHERE last_seen < ?", arguments: [cut])
        result.devices += db.changesCount
        for queue in queues {
            let removed = try removeAcknowledged(sql, queue: queue)
            guard removed.count > 0 else { continue }
            try db.execute(
                sql: "UPDATE user_queue SET count = count - ?, bytes = bytes - ? WHERE id = ?",
                arguments: [removed.count, removed.bytes, queue]
            )
            result.messages += Int(removed.count)
        }
    }

    private static func dropMessages(_ db: Database, before cut: Int64, into result: inout ReliableTrimResult) throws {
        // The oldest messages in sequence order while they are older than the cut.
        var removed: [Int64: (count: Int64, bytes: Int64)] = [:]
        var through: Int64?
        do {
            let rows = try Row.fetchCursor(db, sql: "SELECT sequence, queue_id, size, time FROM message ORDER BY sequence")
            while let row = try rows.next(), try row.decode(Int64.self, atIndex: 3) < cut {
                through = try row.decode(Int64.self, atIndex: 0)
                let size = try row.decode(Int64.self, atIndex: 2)
                let queue = try row.decode(Int64.self, atIndex: 1)
                removed[queue, default: (0, 0)].count += 1
                removed[queue, default: (0, 0)].bytes += size
            }
        }
        guard let through else { return }
        for (queue, counts) in removed {
            try db.execute(
                sql: "UPDATE user_queue SET count = count - ?, bytes = bytes - ?, dropped = dropped + ? WHERE id = ?",
                arguments: [counts.count, counts.bytes, counts.count, queue]
            )
        }
        try db.execute(sql: "DELETE FROM message WHERE sequence <= ?", arguments: [through])
        result.messages += db.changesCount
    }

    private static func trimRooms(_ sql: RawStatements, before cut: Int64, into result: inout ReliableTrimResult) throws {
        let db = sql.db
        let rooms = try Int64.fetchAll(db, sql: "SELECT DISTINCT room_id FROM room_message WHERE time < ?", arguments: [cut])
        for room in rooms {
            // The oldest messages while they are older than the cut; the cursor ends before
            // anything is deleted.
            var through: Int64?
            do {
                let rows = try Row.fetchCursor(
                    db,
                    sql: "SELECT room_offset, time FROM room_message WHERE room_id = ? ORDER BY room_offset",
                    arguments: [room]
                )
                while let row = try rows.next(), try row.decode(Int64.self, atIndex: 1) < cut {
                    through = try row.decode(Int64.self, atIndex: 0)
                }
            }
            guard let through else { continue }
            result.roomMessages += try deleteRoomMessages(sql, room: room, through: through)
            try db.execute(
                sql: "UPDATE room SET trimmed_through = max(trimmed_through, ?) WHERE id = ?",
                arguments: [through, room]
            )
        }
    }
}
