import GRDB
public import ParleyStore

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
    public typealias Durability = SQLiteDurability

    /// The path of the database file.
    public let path: String
    /// The settings.
    public let configuration: Configuration
    /// The file, its connections and its lock.
    let file: StoreFile

    /// Creates a store for the file at `path`; nothing is read or written before
    /// ``open(now:)``.
    ///
    /// - Parameters:
    ///   - path: The database file; it and its folder are created if missing.
    ///   - configuration: Durability and lock waiting.
    public init(path: String, configuration: Configuration = .init()) {
        self.path = path
        self.configuration = configuration
        file = StoreFile(path: path, options: .init(
            kind: "recovery store",
            migrator: Self.migrator,
            durability: configuration.durability,
            busyTimeout: configuration.busyTimeout
        ))
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
        let pool = try file.open()
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
        try file.close()
    }

    /// Lets another store open the file while this one keeps its connections, as if this
    /// process had died (tests of crash recovery within one process).
    @_spi(Testing) public func releaseLockAsIfCrashed() {
        file.releaseLock()
    }
}
