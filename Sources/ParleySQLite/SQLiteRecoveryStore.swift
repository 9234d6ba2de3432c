import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GRDB
public import ParleyStore
import Synchronization

/// A recovery store kept in an SQLite file, so that sessions and the recovery log survive a
/// restart of the server — a crash included.
///
/// The file is opened in WAL mode with one writer connection and a few readers: replays never
/// wait for a commit in progress. Every ``RecoveryStore`` semantic holds across restarts: the
/// epoch is created with the file and kept in it, and each ``open(now:)`` starts the sequences
/// 2³² above anything the previous process could have handed out.
///
/// ```swift
/// let store = SQLiteRecoveryStore(path: "/var/lib/chat/recovery.sqlite")
/// let log = try await RecoveryLog.open(store: store)
/// ```
///
/// The file's schema is versioned; a file written by a newer version of this store is refused
/// (``StoreError/Code/newerSchema``) and left as it is.
public final class SQLiteRecoveryStore: RecoveryStore {
    /// Settings of the store.
    public struct Configuration: Sendable {
        /// What a commit survives.
        public var durability: Durability
        /// How long a statement waits for a lock held by another process before it fails.
        public var busyTimeout: Duration

        /// Creates a configuration.
        public init(durability: Durability = .normal, busyTimeout: Duration = .seconds(5)) {
            self.durability = durability
            self.busyTimeout = busyTimeout
        }
    }

    /// What a committed transaction survives.
    public enum Durability: Sendable, Hashable {
        /// `PRAGMA synchronous = NORMAL`: a commit survives a crash of the process (even
        /// `SIGKILL`), but the last transactions may be lost on a power loss or a crash of the
        /// operating system (the file stays consistent). The disk is synchronised only at
        /// checkpoints, so commits are cheap.
        case normal
        /// `PRAGMA synchronous = FULL`: a commit survives a power loss too, at the cost of one
        /// `fsync` per transaction.
        case full
    }

    /// The path of the database file.
    public let path: String
    /// The settings.
    public let configuration: Configuration
    /// `nil` before ``open(now:)`` and after ``close()``.
    private let pool = Mutex<DatabasePool?>(nil)
    /// The lock file that keeps a second process off the file while this one has it open.
    private let lock = Mutex<FileLock?>(nil)

    /// Creates a store for the file at `path`; nothing is read or written before
    /// ``open(now:)``.
    ///
    /// - Parameters:
    ///   - path: The database file; it and its folder are created if missing.
    ///   - configuration: Durability and lock waiting.
    public init(path: String, configuration: Configuration = .init()) {
        self.path = path
        self.configuration = configuration
    }

    /// Opens the file, creating or migrating it, and prepares it for this process.
    ///
    /// Opening a store that is already open counts as a restart, as with
    /// ``InMemoryRecoveryStore``.
    ///
    /// - Throws: ``StoreError`` with ``StoreError/Code/cannotOpen`` (the file or its folder
    ///   cannot be created or written), ``StoreError/Code/corrupt`` (not a recovery store, or
    ///   damaged), ``StoreError/Code/newerSchema`` (written by a newer version; the file is
    ///   not modified) or ``StoreError/Code/inUse`` (another process has the file open: two
    ///   servers writing one log would hand out the same sequences).
    public func open(now: Int64) async throws -> RecoveryStoreState {
        // The lock is held while the file opens, so that concurrent opens share one pool.
        let pool = try self.pool.withLock { pool throws(StoreError) -> DatabasePool in
            if let pool { return pool }
            let opened = try makePool()
            pool = opened
            return opened
        }
        do {
            return try await pool.write { db in try Self.startProcess(db, now: now) }
        } catch {
            throw StoreError(opening: error, path: path)
        }
    }

    /// Closes the file; the store is not used afterwards (until opened again).
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

    /// Lets another store open the file while this one keeps its connections, as if this
    /// process had died (tests of crash recovery within one process).
    @_spi(Testing) public func releaseLockAsIfCrashed() {
        lock.withLock { $0 = nil }
    }

    /// Runs `body` with the open pool, turning database errors into ``StoreError``.
    func withPool<T>(_ operation: String, _ body: (DatabasePool) async throws -> T) async throws -> T {
        guard let pool = pool.withLock({ $0 }) else {
            throw StoreError(.notOpen, path: path, detail: "\(operation) before open or after close")
        }
        do {
            return try await body(pool)
        } catch let error as StoreError {
            throw error
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
        let held = try lock.withLock { lock throws(StoreError) -> FileLock in
            if let lock { return lock }
            let acquired = try FileLock(path: path + ".lock")
            lock = acquired
            return acquired
        }
        _ = held
        try checkExistingFile()
        var grdbConfiguration = GRDB.Configuration()
        grdbConfiguration.label = "parley.store"
        grdbConfiguration.busyMode = .timeout(configuration.busyTimeout.timeInterval)
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: grdbConfiguration)
        } catch {
            throw StoreError(opening: error, path: path)
        }
        do {
            // GRDB sets NORMAL on the writer when it enables WAL; FULL must come after it.
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

extension Duration {
    /// The duration in seconds, with its fraction.
    var timeInterval: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// An exclusive `flock` on a lock file next to the database, held while the store is open and
/// released by the kernel when the process ends, however it ends.
final class FileLock: Sendable {
    private let descriptor: Int32

    init(path: String) throws(StoreError) {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw StoreError(.cannotOpen, path: path, detail: "cannot create the lock file: \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            close(descriptor)
            if reason == EWOULDBLOCK {
                throw StoreError(.inUse, path: path, detail: "another process has this recovery store open")
            }
            throw StoreError(.cannotOpen, path: path, detail: "cannot lock: \(String(cString: strerror(reason)))")
        }
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }
}
