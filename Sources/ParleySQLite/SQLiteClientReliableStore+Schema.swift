import Foundation
import GRDB
import NIOCore
import ParleyStore

/// The schema of ``SQLiteClientReliableStore``, its versions, and the checks before a file is
/// used.
extension SQLiteClientReliableStore {
    /// The migrations, oldest first. Never edit a released one: add another.
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("client-v1") { db in
            // `meta` holds `device_id` and `last_sequence` (the highest outbox sequence ever
            // added, kept when its item goes so that keys never repeat). `received.number`
            // orders the ids of the de-duplication window, oldest first.
            try db.execute(sql: """
                CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value NOT NULL) WITHOUT ROWID;
                CREATE TABLE outbox (
                    sequence INTEGER PRIMARY KEY,
                    emit_key TEXT NOT NULL UNIQUE,
                    namespace TEXT NOT NULL,
                    time INTEGER NOT NULL,
                    payload BLOB NOT NULL,
                    attachments BLOB
                );
                CREATE INDEX outbox_namespace ON outbox (namespace, sequence);
                CREATE TABLE received (
                    number INTEGER PRIMARY KEY AUTOINCREMENT,
                    namespace TEXT NOT NULL,
                    message_id TEXT NOT NULL,
                    UNIQUE (namespace, message_id)
                );
                CREATE INDEX received_order ON received (namespace, number);
                CREATE TABLE room_position (
                    namespace TEXT NOT NULL,
                    room TEXT NOT NULL,
                    position TEXT NOT NULL,
                    PRIMARY KEY (namespace, room)
                ) WITHOUT ROWID;
                """)
        }
        return migrator
    }()

    /// The device id and the last sequence, creating the device id in a new file.
    static func readState(_ db: Database) throws -> ClientReliableStoreState {
        let deviceID: String
        if let existing = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'device_id'") {
            deviceID = existing
        } else {
            deviceID = ClientReliableStoreState.makeDeviceID()
            try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('device_id', ?), ('last_sequence', 0)", arguments: [deviceID])
        }
        let last = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'last_sequence'") ?? 0
        return ClientReliableStoreState(deviceID: deviceID, lastOutboxSequence: UInt64(bitPattern: last))
    }

    /// The blob of outbox attachments (``ColumnCoding``'s format); `nil` when there is none.
    static func encodeAttachments(_ attachments: [[UInt8]]) -> Data? {
        ColumnCoding.encodeAttachments(attachments.map { ByteBuffer(bytes: $0) })
    }

    /// The attachments of a blob; `nil` when the blob is damaged.
    static func decodeAttachments(_ data: Data?) -> [[UInt8]]? {
        ColumnCoding.decodeAttachments(data)?.map { Array($0.readableBytesView) }
    }
}
