import Foundation
import GRDB
import ParleyStore
import Synchronization

/// The database file of an SQLite store with its connections and its lock file, opened, used
/// and closed together: what ``SQLiteRecoveryStore`` and ``SQLiteReliableStore`` share.
///
/// The file is opened in WAL mode with one writer connection and a few readers, so that reads
/// never wait for a commit in progress. Before anything is written to an existing file (opening
/// the pool already writes: WAL setup), a read-only connection checks that the file is a store
/// of this kind and of a schema this version knows.
final class StoreFile: Sendable {
    /// How to open the file.
    struct Options: Sendable {
        /// What the file holds, for error messages, e.g. `"recovery store"`.
        var kind: String
        /// The schema's migrations; the first one identifies the kind of store.
        var migrator: DatabaseMigrator
        /// What a commit survives.
        var durability: SQLiteDurability
        /// How long a statement waits for a lock held by another process before it fails.
        var busyTimeout: Duration
        /// `PRAGMA max_page_count` for every connection; `nil` keeps SQLite's limit.
        var maxPageCount: Int? = nil
    }

    /// The path of the database file.
    let path: String
    /// How to open it.
    let options: Options
    /// `nil` before ``open()`` and after ``close()``.
    private let pool = Mutex<DatabasePool?>(nil)
    /// Keeps a second process off the file while this one has it open.
    private let lock = Mutex<FileLock?>(nil)

    /// Creates the handle; nothing is read or written before ``open()``.
    init(path: String, options: Options) {
        self.path = path
        self.options = options
    }

    /// The open pool, opening (creating, migrating) the file first if it is not open.
    ///
    /// - Throws: ``StoreError`` with ``StoreError/Code/cannotOpen``, ``StoreError/Code/corrupt``,
    ///   ``StoreError/Code/newerSchema`` or ``StoreError/Code/inUse``.
    func open() throws(StoreError) -> DatabasePool {
        // The lock is held while the file opens, so that concurrent opens share one pool.
        try pool.withLock { pool throws(StoreError) -> DatabasePool in
            if let pool { return pool }
            let opened = try makePool()
            pool = opened
            return opened
        }
    }

    /// Closes the connections and releases the lock file.
    ///
    /// - Throws: ``StoreError`` when the connections cannot be closed.
    func close() throws(StoreError) {
        guard let pool = pool.withLock({ pool in defer { pool = nil }; return pool }) else { return }
        defer { lock.withLock { $0 = nil } }
        do {
            try pool.close()
        } catch {
            throw StoreError(operating: error, path: path)
        }
    }

    /// Releases the lock file but keeps the connections, as if the process had died.
    func releaseLock() {
        lock.withLock { $0 = nil }
    }

    /// Runs `body` with the open pool, turning database errors into ``StoreError``.
    ///
    /// - Parameter operation: What is done, for the error when the file is not open.
    func withPool<T>(_ operation: String, _ body: (DatabasePool) async throws -> T) async throws -> T {
        guard let pool = pool.withLock({ $0 }) else {
            throw StoreError(.notOpen, path: path, detail: "\(operation) before open or after close")
        }
        do {
            return try await body(pool)
        } catch {
            throw StoreError(operating: error, path: path)
        }
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
            if lock == nil { lock = try FileLock(path: path + ".lock") }
        }
        do {
            return try openCheckedPool()
        } catch {
            // A file refused or failing to open is not held: another store may use it.
            lock.withLock { $0 = nil }
            throw error
        }
    }

    /// Opens the connections of a file whose lock is held.
    private func openCheckedPool() throws(StoreError) -> DatabasePool {
        try checkExistingFile()
        var grdbConfiguration = GRDB.Configuration()
        grdbConfiguration.label = "parley.store"
        grdbConfiguration.busyMode = .timeout(options.busyTimeout.timeInterval)
        if let maxPageCount = options.maxPageCount {
            grdbConfiguration.prepareDatabase { db in try db.execute(sql: "PRAGMA max_page_count = \(maxPageCount)") }
        }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: grdbConfiguration)
        } catch {
            throw StoreError(opening: error, path: path)
        }
        do {
            // GRDB sets NORMAL on the writer when it enables WAL; FULL must come after it.
            if options.durability == .full {
                try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
            }
            try options.migrator.migrate(pool)
            return pool
        } catch {
            try? pool.close() // best effort: the open already failed
            throw StoreError(opening: error, path: path)
        }
    }

    /// Refuses, without writing to it, a file this version must not use.
    private func checkExistingFile() throws(StoreError) {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        guard let size = attributes?[.size] as? NSNumber, size.intValue > 0 else { return }
        var grdbConfiguration = GRDB.Configuration()
        grdbConfiguration.readonly = true
        grdbConfiguration.busyMode = .timeout(options.busyTimeout.timeInterval)
        let verdict: StoreError?
        do {
            let queue = try DatabaseQueue(path: path, configuration: grdbConfiguration)
            defer { try? queue.close() } // best effort: nothing was written
            verdict = try queue.read { db in try refusal(db) }
        } catch {
            throw StoreError(opening: error, path: path)
        }
        if let verdict { throw verdict }
    }

    private func refusal(_ db: Database) throws -> StoreError? {
        let known = options.migrator.migrations
        let applied = try options.migrator.appliedIdentifiers(db)
        let objects = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'") ?? 0
        if applied.isEmpty, objects > 0 {
            return StoreError(.corrupt, path: path, detail: "an SQLite database that is not a \(options.kind)")
        }
        if let first = known.first, !applied.isEmpty, !applied.contains(first) {
            return StoreError(.corrupt, path: path, detail: "a database of another kind than a \(options.kind) (migrations \(applied.sorted()))")
        }
        let unknown = applied.subtracting(known)
        if !unknown.isEmpty {
            return StoreError(.newerSchema, path: path, detail: "unknown migrations \(unknown.sorted()); this version knows \(known)")
        }
        return nil
    }
}

extension Duration {
    /// The duration in seconds, with its fraction.
    var timeInterval: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
