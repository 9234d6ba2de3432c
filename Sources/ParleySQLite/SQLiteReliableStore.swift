import GRDB
public import ParleyStore

/// A reliable store kept in an SQLite file, so that user queues, device positions, room
/// histories and idempotency keys survive a restart of the server — a crash included.
///
/// The file is opened in WAL mode with one writer connection and a few readers: reads of
/// queues and histories never wait for a commit in progress. The epoch is created with the
/// file and kept in it; so is the counter of message sequences, so that a sequence is never
/// handed out twice, even after the message holding it was removed. Each queue's depth is kept
/// in counters next to it, so that a batch of enqueues costs what it writes, whatever the
/// queues already hold.
///
/// ```swift
/// let store = SQLiteReliableStore(path: "/var/lib/chat/reliable.sqlite")
/// let epoch = try await store.open(now: now)
/// ```
///
/// The file's schema is versioned; a file written by a newer version of this store is refused
/// (``StoreError/Code/newerSchema``) and left as it is. A second store on the same file, in this
/// process or another, is refused with ``StoreError/Code/inUse``: the lock file `<path>.lock`
/// is held while the store is open.
public final class SQLiteReliableStore: ReliableStore {
    /// Settings of the store.
    public struct Configuration: Sendable {
        /// What a commit survives.
        public var durability: Durability
        /// How long a statement waits for a lock held by another process before it fails.
        public var busyTimeout: Duration
        /// The most pages the database may have (`PRAGMA max_page_count`; a page is 4 KiB
        /// unless the file says otherwise); `nil` keeps SQLite's limit. A commit that needs
        /// more fails with ``StoreError/Code/full``, as on a full disk: meant for tests of that
        /// case, or to keep the file from filling a shared disk.
        public var maxPageCount: Int?

        /// Creates a configuration.
        public init(durability: Durability = .normal, busyTimeout: Duration = .seconds(5), maxPageCount: Int? = nil) {
            self.durability = durability
            self.busyTimeout = busyTimeout
            self.maxPageCount = maxPageCount
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
    ///   - configuration: Durability, lock waiting and size limit.
    public init(path: String, configuration: Configuration = .init()) {
        self.path = path
        self.configuration = configuration
        file = StoreFile(path: path, options: .init(
            kind: "reliable store",
            migrator: Self.migrator,
            durability: configuration.durability,
            busyTimeout: configuration.busyTimeout,
            maxPageCount: configuration.maxPageCount
        ))
    }

    /// Opens the file, creating or migrating it.
    ///
    /// Opening a store that is already open returns its epoch and keeps its connections.
    ///
    /// - Returns: the epoch, created with the file.
    /// - Throws: ``StoreError`` with ``StoreError/Code/cannotOpen`` (the file or its folder
    ///   cannot be created or written), ``StoreError/Code/corrupt`` (not a reliable store, or
    ///   damaged), ``StoreError/Code/newerSchema`` (written by a newer version; the file is
    ///   not modified) or ``StoreError/Code/inUse`` (another store has the file open: two
    ///   writers would hand out the same sequences).
    public func open(now: Int64) async throws -> String {
        let pool = try file.open()
        do {
            return try await pool.read { db in try Self.epoch(db) }
        } catch {
            throw StoreError(opening: error, path: path)
        }
    }

    /// Applies the operations of `batch` in order, in one write transaction.
    ///
    /// - Returns: one outcome per operation, in the same order.
    /// - Throws: ``StoreError``; nothing of the batch is kept then. ``StoreError/Code/full``
    ///   when the disk or ``Configuration/maxPageCount`` is reached.
    public func commit(_ batch: [ReliableOperation], now: Int64) async throws -> [ReliableOutcome] {
        try await file.withPool("commit") { pool in
            guard !batch.isEmpty else { return [] }
            return try await pool.write { db in
                var transaction = try ReliableTransaction(db, now: now)
                let outcomes = try batch.map { try transaction.apply($0) }
                try transaction.finish()
                return outcomes
            }
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
