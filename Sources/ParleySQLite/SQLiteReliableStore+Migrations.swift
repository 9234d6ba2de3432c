import GRDB
import ParleyStore

/// The schema and its versions.
extension SQLiteReliableStore {
    /// The migrations, oldest first. Never edit a released one: add another.
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("reliable-v1") { db in
            // `meta` holds `epoch` (created with the file) and `next_sequence` (the sequence of
            // the next message enqueued, in any queue: never handed out twice).
            //
            // `user_queue` keeps each queue's depth (`count`, `bytes`) and the messages it ever
            // dropped, so that bounds are checked without counting the messages. `message`
            // is keyed by its sequence (the rowid); `message_queue` orders each queue's
            // messages by sequence, since SQLite appends the rowid to every index. Retention
            // by age walks `message` in sequence order, which is the order of acceptance: no
            // index on `time`, which every enqueue would pay for.
            //
            // `room` keeps the next offset of each room and the highest removed
            // (`trimmed_through`): a room's history is always a run of offsets without holes.
            //
            // `origin` remembers the first sequence of each origin until key retention, even
            // after the message left its queue.
            try db.execute(sql: """
                CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value NOT NULL) WITHOUT ROWID;
                CREATE TABLE user_queue (
                    id INTEGER PRIMARY KEY,
                    namespace TEXT NOT NULL,
                    user TEXT NOT NULL,
                    count INTEGER NOT NULL,
                    bytes INTEGER NOT NULL,
                    dropped INTEGER NOT NULL,
                    UNIQUE (namespace, user)
                );
                CREATE TABLE message (
                    sequence INTEGER PRIMARY KEY,
                    queue_id INTEGER NOT NULL,
                    time INTEGER NOT NULL,
                    size INTEGER NOT NULL,
                    payload BLOB NOT NULL,
                    attachments BLOB
                );
                CREATE INDEX message_queue ON message (queue_id);
                CREATE TABLE device (
                    queue_id INTEGER NOT NULL,
                    device TEXT NOT NULL,
                    position INTEGER NOT NULL,
                    last_seen INTEGER NOT NULL,
                    PRIMARY KEY (queue_id, device)
                ) WITHOUT ROWID;
                CREATE INDEX device_last_seen ON device (last_seen);
                CREATE TABLE origin (
                    origin TEXT PRIMARY KEY NOT NULL,
                    sequence INTEGER NOT NULL,
                    time INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX origin_time ON origin (time);
                CREATE TABLE room (
                    id INTEGER PRIMARY KEY,
                    namespace TEXT NOT NULL,
                    room TEXT NOT NULL,
                    next_offset INTEGER NOT NULL,
                    trimmed_through INTEGER NOT NULL,
                    UNIQUE (namespace, room)
                );
                CREATE TABLE room_message (
                    room_id INTEGER NOT NULL,
                    room_offset INTEGER NOT NULL,
                    time INTEGER NOT NULL,
                    payload BLOB NOT NULL,
                    attachments BLOB,
                    PRIMARY KEY (room_id, room_offset)
                );
                CREATE INDEX room_message_time ON room_message (time);
                CREATE TABLE idempotency (
                    namespace TEXT NOT NULL,
                    user TEXT NOT NULL,
                    device TEXT NOT NULL,
                    key TEXT NOT NULL,
                    digest INTEGER NOT NULL,
                    response BLOB NOT NULL,
                    attachments BLOB,
                    time INTEGER NOT NULL,
                    PRIMARY KEY (namespace, user, device, key)
                );
                CREATE INDEX idempotency_time ON idempotency (time);
                """)
            try db.execute(
                sql: "INSERT INTO meta (key, value) VALUES ('epoch', ?), ('next_sequence', 1)",
                arguments: [RecoveryOffset.makeEpoch()]
            )
        }
        return migrator
    }()

    /// The store's epoch.
    static func epoch(_ db: Database) throws -> String {
        guard let epoch = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'epoch'") else {
            throw StoreError(.corrupt, detail: "the store has no epoch")
        }
        return epoch
    }

    /// The sequence of the next message enqueued.
    static func nextSequence(_ db: Database) throws -> Int64 {
        guard let next = try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE key = 'next_sequence'")) else {
            throw StoreError(.corrupt, detail: "the store has no sequence counter")
        }
        return next
    }

    /// Sets the sequence of the next message enqueued.
    static func setNextSequence(_ db: Database, _ next: Int64) throws {
        try db.cachedStatement(sql: "UPDATE meta SET value = ? WHERE key = 'next_sequence'").execute(arguments: [next])
    }
}
