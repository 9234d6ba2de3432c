import Foundation
import GRDB
import ParleyStore

/// The schema, its versions, and what ``SQLiteRecoveryStore/open(now:)`` does to the file.
extension SQLiteRecoveryStore {
    /// The migrations, oldest first. Never edit a released one: add another.
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            // `meta` holds `epoch`, `trimmed_through` (the highest sequence retention removed),
            // `sequence_floor` (the first sequence of the latest process), and the totals
            // `entry_count` and `entry_bytes` that retention needs without scanning the log.
            try db.execute(sql: """
                CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value NOT NULL) WITHOUT ROWID;
                CREATE TABLE log_entry (
                    sequence INTEGER PRIMARY KEY,
                    namespace TEXT NOT NULL,
                    time INTEGER NOT NULL,
                    size INTEGER NOT NULL,
                    rooms TEXT,
                    except_rooms TEXT,
                    packet BLOB,
                    attachments BLOB
                );
                CREATE TABLE session (
                    pid TEXT PRIMARY KEY NOT NULL,
                    socket_id TEXT NOT NULL,
                    namespace TEXT NOT NULL,
                    rooms TEXT,
                    data BLOB,
                    disconnected_at INTEGER
                );
                CREATE INDEX session_disconnected_at ON session (disconnected_at);
                """)
        }
        return migrator
    }()

    /// Hands the file to this process: the epoch (created with the file), a first sequence
    /// above anything a previous process could have handed out, and the sessions the previous
    /// process left connected marked as disconnected now.
    static func startProcess(_ db: Database, now: Int64) throws -> RecoveryStoreState {
        let nextSequence: Int64
        let epoch: String
        if let existing = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'epoch'") {
            epoch = existing
            let highest = try max(
                Int64.fetchOne(db, sql: "SELECT max(sequence) FROM log_entry") ?? 0,
                meta(db, .trimmedThrough),
                meta(db, .sequenceFloor)
            )
            let (sum, overflow) = highest.addingReportingOverflow(1 << 32)
            guard !overflow else { throw StoreError(.corrupt, detail: "sequences exhausted (highest \(highest))") }
            nextSequence = sum
            try db.execute(sql: "UPDATE session SET disconnected_at = ? WHERE disconnected_at IS NULL", arguments: [now])
        } else {
            epoch = RecoveryOffset.makeEpoch()
            nextSequence = 1
            try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('epoch', ?)", arguments: [epoch])
            for key in [MetaKey.trimmedThrough, .entryCount, .entryBytes] { try setMeta(db, key, 0) }
        }
        try setMeta(db, .sequenceFloor, nextSequence)
        return RecoveryStoreState(epoch: epoch, nextSequence: UInt64(nextSequence))
    }

    /// The integer keys of `meta`.
    enum MetaKey: String {
        case trimmedThrough = "trimmed_through"
        case sequenceFloor = "sequence_floor"
        case entryCount = "entry_count"
        case entryBytes = "entry_bytes"
    }

    /// An integer of `meta`; 0 when absent.
    static func meta(_ db: Database, _ key: MetaKey) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE key = ?"), arguments: [key.rawValue]) ?? 0
    }

    /// Sets an integer of `meta`.
    static func setMeta(_ db: Database, _ key: MetaKey, _ value: Int64) throws {
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)").execute(arguments: [key.rawValue, value])
    }

    /// Adds to an integer of `meta`.
    static func addToMeta(_ db: Database, _ key: MetaKey, _ delta: Int64) throws {
        try db.cachedStatement(sql: "UPDATE meta SET value = value + ? WHERE key = ?").execute(arguments: [delta, key.rawValue])
    }
}
