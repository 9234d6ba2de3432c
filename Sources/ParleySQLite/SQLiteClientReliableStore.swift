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
        public var durability: SQLiteRecoveryStore.Durability
        /// How long a statement waits for a lock held by another connection before it fails.
        public var busyTimeout: Duration

        /// Creates a configuration.
        public init(durability: SQLiteRecoveryStore.Durability = .normal, busyTimeout: Duration = .seconds(5)) {
            self.durability = durability
            self.busyTimeout = busyTimeout
        }
    }

    /// The path of the database file.
    public let path: String
    /// The settings.
    public let configuration: Configuration
    /// `nil` before ``open()`` and after ``close()``.
    private let pool = Mutex<DatabasePool?>(nil)
    private let lock = Mutex<FileLock?>(nil)

    /// Creates a store for the file at `path`; nothing is read or written before ``open()``.
    ///
    /// - Parameters:
    ///   - path: The database file; it and its folder are created if missing.
    ///   - configuration: Durability and lock waiting.
    public init(path: String, configuration: Configuration = .init()) {
        self.path = path
        self.configuration = configuration
    }

    /// Opens the file, creating or migrating it; a new file gets a new device id.
    ///
    /// - Throws: ``StoreError`` with ``StoreError/Code/cannotOpen``, ``StoreError/Code/corrupt``
    ///   (not a client store, or damaged), ``StoreError/Code/newerSchema`` or
    ///   ``StoreError/Code/inUse`` (another process, or another open store, has the file).
    public func open() async throws -> ClientReliableStoreState {
        let pool = try self.pool.withLock { pool throws(StoreError) -> DatabasePool in
            if let pool { return pool }
            let opened = try makePool()
            pool = opened
            return opened
        }
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
        guard let pool = pool.withLock({ pool in defer { pool = nil }; return pool }) else { return }
        defer { lock.withLock { $0 = nil } }
        do {
            try pool.close()
        } catch {
            throw StoreError(operating: error, path: path)
        }
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
        let pool = try openPool(operation)
        do {
            return try await pool.write(body)
        } catch {
            throw StoreError(operating: error, path: path)
        }
    }

    private func read<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let pool = try openPool(operation)
        do {
            return try await pool.read(body)
        } catch {
            throw StoreError(operating: error, path: path)
        }
    }

    private func openPool(_ operation: String) throws(StoreError) -> DatabasePool {
        guard let pool = pool.withLock({ $0 }) else {
            throw StoreError(.notOpen, path: path, detail: "\(operation) before open or after close")
        }
        return pool
    }

    /// Opens the connections after checking, read-only, that the file may be used.
    private func makePool() throws(StoreError) -> DatabasePool {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError(.cannotOpen, path: path, detail: "cannot create the folder: \(error)")
        }
        try lock.withLock { lock throws(StoreError) in
            guard lock == nil else { return }
            do throws(StoreError) {
                lock = try FileLock(path: path + ".lock")
            } catch {
                guard error.code == .inUse else { throw error }
                throw StoreError(.inUse, path: error.path, detail: "another process, or another open store, has this client store open")
            }
        }
        do {
            return try openCheckedPool()
        } catch {
            lock.withLock { $0 = nil }
            throw error
        }
    }

    private func openCheckedPool() throws(StoreError) -> DatabasePool {
        try checkExistingFile()
        var grdbConfiguration = GRDB.Configuration()
        grdbConfiguration.label = "parley.client-store"
        grdbConfiguration.busyMode = .timeout(configuration.busyTimeout.timeInterval)
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: grdbConfiguration)
        } catch {
            throw StoreError(opening: error, path: path)
        }
        do {
            if configuration.durability == .full {
                try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
            }
            try Self.migrator.migrate(pool)
            return pool
        } catch {
            try? pool.close() // best effort: the open already failed
            throw StoreError(opening: error, path: path)
        }
    }
}
