import Foundation
import GRDB
public import ParleyStore
import Synchronization

/// A client store kept in an SQLite file, so that a client's outbox, the ids it has seen and
/// its room positions survive a restart of the app — a crash included
/// (`Protocol/reliable.md` § 6).
///
/// ```swift
/// let store = SQLiteClientReliableStore(path: appSupport + "/parley.sqlite")
/// var configuration = SocketClientConfiguration()
/// configuration.reliable = ClientReliability(store: store)
/// ```
///
/// Like ``SQLiteRecoveryStore``, the file is opened in WAL mode, its schema is versioned, and a
/// lock file (`<path>.lock`) keeps a second process — or a second open store of this process —
/// off it while it is open.
public final class SQLiteClientReliableStore: ClientReliableStore {
    /// Settings of the store.
    public struct Configuration: Sendable {
        /// What an added outbox item survives.
        public var durability: SQLiteDurability
        /// How long a statement waits for a lock held by another connection before it fails.
        public var busyTimeout: Duration

        /// Creates a configuration.
        public init(durability: SQLiteDurability = .normal, busyTimeout: Duration = .seconds(5)) {
            self.durability = durability
            self.busyTimeout = busyTimeout
        }
    }

    /// The path of the database file.
    public let path: String
    /// The settings.
    public let configuration: Configuration
    /// The file, its connections and its lock.
    private let file: StoreFile

    /// Creates a store for the file at `path`; nothing is read or written before ``open()``.
    ///
    /// - Parameters:
    ///   - path: The database file; it and its folder are created if missing.
    ///   - configuration: Durability and lock waiting.
    public init(path: String, configuration: Configuration = .init()) {
        self.path = path
        self.configuration = configuration
        file = StoreFile(path: path, options: .init(
            kind: "client store",
            migrator: Self.migrator,
            durability: configuration.durability,
            busyTimeout: configuration.busyTimeout
        ))
    }

    /// Opens the file, creating or migrating it; a new file gets a new device id.
    ///
    /// - Throws: ``StoreError`` with ``StoreError/Code/cannotOpen``, ``StoreError/Code/corrupt``
    ///   (not a client store, or damaged), ``StoreError/Code/newerSchema`` or
    ///   ``StoreError/Code/inUse`` (another process, or another open store, has the file).
    public func open() async throws -> ClientReliableStoreState {
        let pool = try file.open()
        do {
            return try await pool.write { db in try Self.readState(db) }
        } catch {
            throw StoreError(opening: error, path: path)
        }
    }

    /// Closes the file and releases its lock.
    ///
    /// - Throws: ``StoreError`` when the connections cannot be closed.
    public func close() async throws {
        try file.close()
    }

    public func addToOutbox(_ item: ClientOutboxItem) async throws {
        try await write("addToOutbox") { db in
            try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO outbox (sequence, emit_key, namespace, time, payload, attachments)
                VALUES (?, ?, ?, ?, ?, ?)
                """).execute(arguments: [
                    Int64(bitPattern: item.sequence), item.key, item.namespace, item.timeMilliseconds,
                    Data(item.payload), Self.encodeAttachments(item.attachments),
                ])
            guard db.changesCount > 0 else { return }
            try db.cachedStatement(sql: "UPDATE meta SET value = max(value, ?) WHERE key = 'last_sequence'")
                .execute(arguments: [Int64(bitPattern: item.sequence)])
        }
    }

    public func removeFromOutbox(key: String) async throws {
        try await write("removeFromOutbox") { db in
            try db.cachedStatement(sql: "DELETE FROM outbox WHERE emit_key = ?").execute(arguments: [key])
        }
    }

    public func outbox(namespace: String) async throws -> [ClientOutboxItem] {
        try await read("outbox") { db in
            let rows = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT sequence, emit_key, time, payload, attachments FROM outbox WHERE namespace = ? ORDER BY sequence"),
                arguments: [namespace]
            )
            return try rows.map { row in
                guard let attachments = Self.decodeAttachments(row[4]) else {
                    throw StoreError(.corrupt, detail: "damaged attachments of outbox item \(row[1] as String)")
                }
                return ClientOutboxItem(
                    sequence: UInt64(bitPattern: row[0]),
                    key: row[1],
                    namespace: namespace,
                    payload: [UInt8](row[3] as Data),
                    attachments: attachments,
                    timeMilliseconds: row[2]
                )
            }
        }
    }

    public func recordReceived(_ id: String, namespace: String, keeping: Int) async throws -> Bool {
        try await write("recordReceived") { db in
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO received (namespace, message_id) VALUES (?, ?)")
                .execute(arguments: [namespace, id])
            guard db.changesCount > 0 else { return false }
            // The newest `keeping` stay: everything at or below the one just past them goes.
            try db.cachedStatement(sql: """
                DELETE FROM received WHERE namespace = ? AND number <= (
                    SELECT number FROM received WHERE namespace = ? ORDER BY number DESC LIMIT 1 OFFSET ?)
                """).execute(arguments: [namespace, namespace, max(keeping, 0)])
            return true
        }
    }

    public func hasReceived(_ id: String, namespace: String) async throws -> Bool {
        try await read("hasReceived") { db in
            try Bool.fetchOne(
                db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM received WHERE namespace = ? AND message_id = ?)"),
                arguments: [namespace, id]
            ) ?? false
        }
    }

    public func roomPosition(namespace: String, room: String) async throws -> String? {
        try await read("roomPosition") { db in
            try String.fetchOne(
                db.cachedStatement(sql: "SELECT position FROM room_position WHERE namespace = ? AND room = ?"),
                arguments: [namespace, room]
            )
        }
    }

    public func setRoomPosition(_ offset: String, namespace: String, room: String) async throws {
        try await write("setRoomPosition") { db in
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO room_position (namespace, room, position) VALUES (?, ?, ?)")
                .execute(arguments: [namespace, room, offset])
        }
    }

    private func write<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await file.withPool(operation) { pool in try await pool.write(body) }
    }

    private func read<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await file.withPool(operation) { pool in try await pool.read(body) }
    }
}
