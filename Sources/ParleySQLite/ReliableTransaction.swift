import GRDB
import ParleyStore

/// One commit of ``SQLiteReliableStore``: applies the operations of a batch in order within a
/// write transaction.
///
/// The counters it changes — the sequence counter, each touched queue's depth, each touched
/// room's offsets — are kept in memory and written once, by ``finish()``: a batch of thousands
/// of enqueues costs a lookup and an update per queue and an insert per message.
struct ReliableTransaction {
    private typealias Store = SQLiteReliableStore

    /// A queue's row as this transaction left it.
    private struct Queue {
        var row: Store.QueueRow
        var changed = false
    }

    private let sql: RawStatements
    private let now: Int64
    private let firstSequence: Int64
    private var nextSequence: Int64
    /// The queues read or changed so far.
    private var queues: [UserQueue: Queue] = [:]
    /// The rooms appended to so far.
    private var rooms: [RoomKey: Store.RoomRow] = [:]

    /// Starts applying a batch at `now` (milliseconds since 1970) in the transaction of `db`.
    init(_ db: Database, now: Int64) throws {
        sql = RawStatements(db)
        self.now = now
        firstSequence = try Store.nextSequence(db)
        nextSequence = firstSequence
    }

    /// Applies one operation.
    mutating func apply(_ operation: ReliableOperation) throws -> ReliableOutcome {
        switch operation {
        case .enqueue(let queue, let message, let bounds, let origin):
            return try enqueue(message, to: queue, bounds: bounds, origin: origin)
        case .appendToRoom(let room, let message, let maxMessages):
            return try append(message, to: room, maxMessages: maxMessages)
        case .acknowledge(let queue, let device, let through):
            try acknowledge(queue, device: device, through: through)
            return .applied
        case .registerDevice(let queue, let device):
            let row = try queueRow(queue)
            try sql("""
                INSERT INTO device (queue_id, device, position, last_seen) VALUES (?, ?, 0, ?)
                ON CONFLICT (queue_id, device) DO UPDATE SET last_seen = excluded.last_seen
                """).execute(row.id, device, now)
            return .applied
        case .remember(let record):
            try sql("""
                INSERT INTO idempotency (namespace, user, device, key, digest, response, attachments, time)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                """).execute(
                    record.scope.namespace, record.scope.user, record.scope.device, record.key,
                    Int64(bitPattern: record.digest), record.response,
                    ColumnCoding.encodeAttachments(record.responseAttachments), record.timeMilliseconds
                )
            return .applied
        }
    }

    /// Writes the counters the batch changed.
    func finish() throws {
        let updateQueue = try sql("UPDATE user_queue SET count = ?, bytes = ?, dropped = ? WHERE id = ?")
        for queue in queues.values where queue.changed {
            let row = queue.row
            try updateQueue.execute(row.count, row.bytes, row.dropped, row.id)
        }
        let updateRoom = try sql("UPDATE room SET next_offset = ?, trimmed_through = ? WHERE id = ?")
        for row in rooms.values {
            try updateRoom.execute(row.nextOffset, row.trimmedThrough, row.id)
        }
        if nextSequence != firstSequence {
            try Store.setNextSequence(sql.db, nextSequence)
        }
    }

    private mutating func enqueue(_ message: StoredMessage, to key: UserQueue, bounds: QueueBounds, origin: String?) throws -> ReliableOutcome {
        if let origin, let first = try sql("SELECT sequence FROM origin WHERE origin = ?").fetchFirst(origin, read: { $0.integer(at: 0) }) {
            return .enqueued(sequence: UInt64(first), dropped: 0, duplicate: true)
        }
        let existing = try existingQueueRow(key)
        let size = message.byteCount
        // The oldest messages, read one at a time as long as the bounds need some dropped.
        var droppedThrough: Int64 = 0
        var droppedBytes: Int64 = 0
        let admitted = try bounds.admission(size: size, count: Int(existing?.count ?? 0), bytes: Int(existing?.bytes ?? 0)) {
            guard let existing else { return nil }
            let select = try sql("SELECT sequence, size FROM message WHERE queue_id = ? AND sequence > ? ORDER BY sequence LIMIT 1")
            guard let next = try select.fetchFirst(existing.id, droppedThrough, read: { (sequence: $0.integer(at: 0), size: $0.integer(at: 1)) }) else {
                return nil
            }
            droppedThrough = next.sequence
            droppedBytes += next.size
            return Int(next.size)
        }
        guard let dropped = admitted else {
            return .queueFull(try existing.map { try Store.state(sql.db, $0) } ?? UserQueueState())
        }
        var row = try existing ?? queueRow(key)
        if dropped > 0 {
            try sql("DELETE FROM message WHERE queue_id = ? AND sequence <= ?").execute(row.id, droppedThrough)
            row.count -= Int64(dropped)
            row.bytes -= droppedBytes
            row.dropped += Int64(dropped)
        }
        let sequence = nextSequence
        nextSequence += 1
        try sql("INSERT INTO message (sequence, queue_id, time, size, payload, attachments) VALUES (?, ?, ?, ?, ?, ?)").execute(
            sequence, row.id, message.timeMilliseconds, Int64(size),
            message.payload, ColumnCoding.encodeAttachments(message.attachments)
        )
        row.count += 1
        row.bytes += Int64(size)
        queues[key] = Queue(row: row, changed: true)
        if let origin {
            try sql("INSERT INTO origin (origin, sequence, time) VALUES (?, ?, ?)").execute(origin, sequence, now)
        }
        return .enqueued(sequence: UInt64(sequence), dropped: dropped, duplicate: false)
    }

    private mutating func acknowledge(_ key: UserQueue, device: String, through: UInt64) throws {
        var row = try queueRow(key)
        // A device the store does not know (forgotten by retention while it was connected)
        // becomes known at the position it acknowledged.
        try sql("""
            INSERT INTO device (queue_id, device, position, last_seen) VALUES (?, ?, ?, ?)
            ON CONFLICT (queue_id, device) DO UPDATE SET position = max(position, excluded.position), last_seen = excluded.last_seen
            """).execute(row.id, device, Int64(clamping: through), now)
        guard row.count > 0 else { return }
        let removed = try Store.removeAcknowledged(sql, queue: row.id)
        guard removed.count > 0 else { return }
        row.count -= removed.count
        row.bytes -= removed.bytes
        queues[key] = Queue(row: row, changed: true)
    }

    private mutating func append(_ message: StoredMessage, to key: RoomKey, maxMessages: Int) throws -> ReliableOutcome {
        var row: Store.RoomRow
        if let cached = rooms[key] {
            row = cached
        } else {
            row = try Store.fetchRoom(sql, key) ?? Store.insertRoom(sql, key)
        }
        let offset = row.nextOffset
        row.nextOffset += 1
        try sql("INSERT INTO room_message (room_id, room_offset, time, payload, attachments) VALUES (?, ?, ?, ?, ?)").execute(
            row.id, offset, message.timeMilliseconds,
            message.payload, ColumnCoding.encodeAttachments(message.attachments)
        )
        let excess = offset - row.trimmedThrough - Int64(max(maxMessages, 0))
        if excess > 0 {
            row.trimmedThrough += excess
            _ = try Store.deleteRoomMessages(sql, room: row.id, through: row.trimmedThrough)
        }
        rooms[key] = row
        return .appended(offset: UInt64(offset))
    }

    /// The row of `key` as this transaction left it, when the queue has one.
    private mutating func existingQueueRow(_ key: UserQueue) throws -> Store.QueueRow? {
        if let queue = queues[key] { return queue.row }
        let row = try Store.fetchQueue(sql, key)
        if let row { queues[key] = Queue(row: row) }
        return row
    }

    /// The row of `key` as this transaction left it, created if the queue has none.
    private mutating func queueRow(_ key: UserQueue) throws -> Store.QueueRow {
        if let row = try existingQueueRow(key) { return row }
        let row = try Store.insertQueue(sql, key)
        queues[key] = Queue(row: row)
        return row
    }
}
