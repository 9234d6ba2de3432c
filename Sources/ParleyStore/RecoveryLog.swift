import Foundation
public import Logging
import Synchronization
import NIOConcurrencyHelpers

/// The single writer in front of a ``RecoveryStore``: event loops hand it entries and session
/// changes without waiting, and it commits them in batches — everything that arrived while the
/// previous transaction ran goes into the next one (group commit), off the event loops.
///
/// Sequences are assigned when an entry is made, before it is committed, so the packet can go
/// out at once with its offset. What is handed out but lost before its commit (a crash, a store
/// that fails) is never named by a later entry: the store starts far above it after a restart
/// (``RecoveryStore``), and a failed batch marks a hole that no replay crosses.
///
/// Lifetime: ``open(store:configuration:logger:)``, then ``run()`` until ``finish()`` (which lets
/// the writer commit what is pending and return).
public final class RecoveryLog: Sendable {
    /// Settings of the writer and of retention.
    public struct Configuration: Sendable {
        /// The most bytes of entries waiting for the writer; past it new entries are not kept
        /// (their offsets still go out; a replay across them is refused).
        public var maxPendingBytes: Int = 64 << 20
        /// Entries older than this are trimmed.
        public var maxAge: Duration = .seconds(120)
        /// The most entries kept; the oldest beyond it are trimmed.
        public var maxEntries: Int = 10_000_000
        /// The most bytes of entries kept; the oldest beyond it are trimmed.
        public var maxBytes: Int = 1 << 30
        /// How often retention runs.
        public var trimInterval: Duration = .seconds(10)
        /// How long the writer lets a small batch grow before committing it: fewer, larger
        /// transactions for a little more time between an append and its commit. Packets go out
        /// at once whatever it is; only ``RecoveryLog/flush()`` waits longer.
        public var commitDelay: Duration = .milliseconds(2)
        /// A batch at least this large is committed at once.
        public var commitDelayBelowEntries: Int = 512

        /// Creates the default configuration.
        public init() {}
    }

    struct Pending {
        /// The entries of the next batch; its sessions are in `sessionChanges`.
        var batch = RecoveryBatch()
        /// The latest change of each session, by pid: a save, or a removal (`nil`). A batch
        /// applies removals after saves, so keeping both would undo a save after a removal.
        var sessionChanges: [String: SessionRecord?] = [:]
        var bytes = 0
        /// Submissions so far (entries and session changes), for ``flush()``.
        var submitted: UInt64 = 0
        var committed: UInt64 = 0
        var writer: CheckedContinuation<Void, Never>?
        var flushWaiters: [(ticket: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var finished = false
        /// Entries were lost (not kept, or their batch failed) up to this sequence: a replay
        /// from a position before it could miss them.
        var holeThrough: UInt64 = 0
        var lastFailure: StoreError?
        var overflowReported = false

        var isEmpty: Bool { batch.isEmpty && sessionChanges.isEmpty }
    }

    /// The store behind the log.
    public let store: any RecoveryStore
    /// The settings.
    public let configuration: Configuration
    /// The epoch of the store, carried by every offset.
    public let epoch: String
    private let sequences: Synchronization.Atomic<UInt64>
    let pending = NIOLockedValueBox(Pending())
    let logger: Logger
    let clock: @Sendable () -> Int64

    private init(store: any RecoveryStore, state: RecoveryStoreState, configuration: Configuration, logger: Logger, clock: @escaping @Sendable () -> Int64) {
        self.store = store
        self.configuration = configuration
        self.epoch = state.epoch
        self.sequences = Synchronization.Atomic(state.nextSequence)
        self.logger = logger
        self.clock = clock
    }

    /// Opens `store` and returns a log writing to it.
    ///
    /// - Throws: ``StoreError`` when the store cannot be opened.
    public static func open(
        store: any RecoveryStore,
        configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "parley.store"),
        clock: @escaping @Sendable () -> Int64 = RecoveryLog.wallClockMilliseconds
    ) async throws -> RecoveryLog {
        let state = try await store.open(now: clock())
        return RecoveryLog(store: store, state: state, configuration: configuration, logger: logger, clock: clock)
    }

    /// Milliseconds since 1970 from the system clock.
    @Sendable public static func wallClockMilliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    /// The current time as the log counts it (milliseconds since 1970).
    public var now: Int64 { clock() }

    // MARK: Writing (any thread, never waits)

    /// Hands out the sequence of a new entry.
    public func nextSequence() -> UInt64 {
        sequences.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    /// The sequence the next entry will get; every entry made so far is below it.
    public var sequenceHighWater: UInt64 { sequences.load(ordering: .relaxed) }

    /// Queues an entry (whose sequence came from ``nextSequence()``) for the next commit.
    public func append(_ entry: LogEntry) {
        let size = entry.byteCount
        let (writer, overflowed) = pending.withLockedValue { pending -> (CheckedContinuation<Void, Never>?, Bool) in
            // After `finish()` the process is going away; what it still sends is not kept.
            guard !pending.finished else { return (nil, false) }
            guard pending.bytes + size <= configuration.maxPendingBytes else {
                pending.holeThrough = max(pending.holeThrough, entry.sequence)
                // Reported once per episode: a successful commit ends it.
                defer { pending.overflowReported = true }
                return (nil, !pending.overflowReported)
            }
            pending.batch.entries.append(entry)
            pending.bytes += size
            pending.submitted += 1
            defer { pending.writer = nil }
            return (pending.writer, false)
        }
        if overflowed {
            logger.warning("recovery log writer behind: entries not kept, replays across them refused", metadata: ["parley.limitBytes": "\(configuration.maxPendingBytes)"])
        }
        writer?.resume()
    }

    /// Queues a session save for the next commit.
    public func save(_ session: SessionRecord) {
        submit(pid: session.pid, session)
    }

    /// Queues a session removal for the next commit.
    public func removeSession(pid: String) {
        submit(pid: pid, nil)
    }

    /// Queues the latest state of the session `pid`: saved, or removed when `session` is nil.
    private func submit(pid: String, _ session: SessionRecord?) {
        let writer = pending.withLockedValue { pending -> CheckedContinuation<Void, Never>? in
            guard !pending.finished else { return nil }
            pending.sessionChanges[pid] = .some(session)
            pending.submitted += 1
            defer { pending.writer = nil }
            return pending.writer
        }
        writer?.resume()
    }

    // MARK: Reading

    /// Waits until everything queued before the call is committed.
    ///
    /// - Throws: the store's error if a batch it waited for failed.
    public func flush() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let done = pending.withLockedValue { pending -> Bool in
                if pending.committed >= pending.submitted { return true }
                pending.flushWaiters.append((pending.submitted, continuation))
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// The entries a client at `offset` missed in `namespace`, for a socket in `rooms`:
    /// ``Replay/expired`` when the offset is foreign (another epoch), from the future, or
    /// from before something was lost or trimmed.
    public func replay(namespace: String, after offset: RecoveryOffset, rooms: Set<String>, limit: Int) async throws -> Replay {
        guard offset.epoch == epoch, offset.sequence < sequenceHighWater else { return .expired }
        try await flush()
        guard offset.sequence >= pending.withLockedValue({ $0.holeThrough }) else { return .expired }
        return try await store.replay(namespace: namespace, after: offset.sequence, rooms: rooms, limit: limit)
    }

    /// Removes and returns the session `pid` if it left less than `maxAge` ago.
    public func takeSession(pid: String, maxAge: Duration) async throws -> SessionRecord? {
        try await flush()
        guard let session = try await store.takeSession(pid: pid), let left = session.disconnectedAtMilliseconds else { return nil }
        return clock() - left <= maxAge.milliseconds ? session : nil
    }

}

extension Duration {
    /// The duration in whole milliseconds.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
