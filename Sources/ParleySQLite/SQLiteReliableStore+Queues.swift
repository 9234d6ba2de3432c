import Foundation
import GRDB
public import ParleyStore

/// User queues: reading them, and the row helpers that commits and retention share.
extension SQLiteReliableStore {
    /// The messages of `queue` after `sequence`, oldest first, at most `limit`, read in one
    /// snapshot that a commit in progress does not block.
    public func messages(in queue: UserQueue, after sequence: UInt64, limit: Int) async throws -> [QueuedMessage] {
        try await file.withPool("messages") { pool in
            try await pool.read { db -> [QueuedMessage] in
                guard limit > 0, let row = try Self.fetchQueue(RawStatements(db), queue) else { return [] }
                let select = try db.cachedStatement(sql: """
                    SELECT sequence, time, payload, attachments FROM message
                    WHERE queue_id = ? AND sequence > ? ORDER BY sequence LIMIT ?
                    """)
                let rows = try Row.fetchCursor(select, arguments: [row.id, Int64(clamping: sequence), limit])
                var messages: [QueuedMessage] = []
                while let row = try rows.next() {
                    let sequence = try UInt64(row.decode(Int64.self, atIndex: 0))
                    messages.append(QueuedMessage(sequence: sequence, message: try Self.storedMessage(row, startingAt: 1, name: "message \(sequence)")))
                }
                return messages
            }
        }
    }

    /// The position of `device` in `queue`; `nil` when the device is not known.
    public func position(of device: String, in queue: UserQueue) async throws -> UInt64? {
        try await file.withPool("position") { pool in
            try await pool.read { db -> UInt64? in
                guard let row = try Self.fetchQueue(RawStatements(db), queue) else { return nil }
                let select = try db.cachedStatement(sql: "SELECT position FROM device WHERE queue_id = ? AND device = ?")
                return try Int64.fetchOne(select, arguments: [row.id, device]).map { UInt64(clamping: $0) }
            }
        }
    }

    /// The depth of `queue` and its oldest message.
    public func state(of queue: UserQueue) async throws -> UserQueueState {
        try await file.withPool("state") { pool in
            try await pool.read { db in
                guard let row = try Self.fetchQueue(RawStatements(db), queue) else { return UserQueueState() }
                return try Self.state(db, row)
            }
        }
    }

    /// A queue's row of `user_queue`: its id and its counters.
    struct QueueRow {
        var id: Int64
        var count: Int64
        var bytes: Int64
        var dropped: Int64
    }

    /// The row of `queue`, when the queue has one.
    static func fetchQueue(_ sql: RawStatements, _ queue: UserQueue) throws -> QueueRow? {
        try sql("SELECT id, count, bytes, dropped FROM user_queue WHERE namespace = ? AND user = ?")
            .fetchFirst(queue.namespace, queue.user) { row in
                QueueRow(id: row.integer(at: 0), count: row.integer(at: 1), bytes: row.integer(at: 2), dropped: row.integer(at: 3))
            }
    }

    /// Creates the row of an empty `queue`.
    static func insertQueue(_ sql: RawStatements, _ queue: UserQueue) throws -> QueueRow {
        try sql("INSERT INTO user_queue (namespace, user, count, bytes, dropped) VALUES (?, ?, 0, 0, 0)")
            .execute(queue.namespace, queue.user)
        return QueueRow(id: sql.db.lastInsertedRowID, count: 0, bytes: 0, dropped: 0)
    }

    /// The state of the queue of `row` (whose counters may be ahead of the table's within a
    /// transaction).
    static func state(_ db: Database, _ row: QueueRow) throws -> UserQueueState {
        let oldest = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT sequence, time FROM message WHERE queue_id = ? ORDER BY sequence LIMIT 1"),
            arguments: [row.id]
        )
        let devices = try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM device WHERE queue_id = ?"), arguments: [row.id]) ?? 0
        return try UserQueueState(
            messages: Int(row.count),
            bytes: Int(row.bytes),
            oldestSequence: oldest.map { try UInt64($0.decode(Int64.self, atIndex: 0)) },
            oldestTimeMilliseconds: oldest?.decode(Int64.self, atIndex: 1),
            dropped: Int(row.dropped),
            devices: devices
        )
    }

    /// Removes the messages of queue `id` that every known device acknowledged; none when no
    /// device is known. The caller updates the queue's counters.
    ///
    /// - Returns: the number of messages removed and their bytes.
    static func removeAcknowledged(_ sql: RawStatements, queue id: Int64) throws -> (count: Int64, bytes: Int64) {
        // `min` of no rows is `NULL`: no device is known.
        let minimum = try sql("SELECT min(position) FROM device WHERE queue_id = ?")
            .fetchFirst(id) { row in row.isNull(at: 0) ? nil : row.integer(at: 0) }
        guard let minimum, let through = minimum else { return (0, 0) }
        let removed = try sql("SELECT count(*), coalesce(sum(size), 0) FROM message WHERE queue_id = ? AND sequence <= ?")
            .fetchFirst(id, through) { row in (count: row.integer(at: 0), bytes: row.integer(at: 1)) } ?? (count: 0, bytes: 0)
        if removed.count > 0 {
            try sql("DELETE FROM message WHERE queue_id = ? AND sequence <= ?").execute(id, through)
        }
        return removed
    }

    /// The message of a row holding its time, payload and attachments from column `index` on.
    static func storedMessage(_ row: Row, startingAt index: Int, name: @autoclosure () -> String) throws -> StoredMessage {
        let payload = try row.withUnsafeData(atIndex: index + 1) { $0.map(Array.init) } ?? []
        guard let attachments = try row.withUnsafeData(atIndex: index + 2, ColumnCoding.decodeByteAttachments) else {
            throw StoreError(.corrupt, detail: "damaged attachments in \(name())")
        }
        return try StoredMessage(payload: payload, attachments: attachments, timeMilliseconds: row.decode(Int64.self, atIndex: index))
    }
}
