import Foundation
public import Logging
import NIOConcurrencyHelpers

/// The single writer in front of a ``ReliableStore``: callers hand it operations from any
/// thread, and it applies them in batches — everything that arrived while the previous
/// transaction ran goes into the next one (group commit), so many reliable emits share one
/// commit.
///
/// ``perform(_:)`` returns once its operation is committed, with its outcome;
/// ``submit(_:)`` queues an operation nobody waits for (acknowledgements, device
/// registrations). Acknowledgements of one device queued together are merged into one.
/// After each successful commit, and before any caller is resumed, the `committed` handler
/// sees the batch's operations and outcomes in order: the server delivers new messages from
/// there, so deliveries follow the store's order.
///
/// Lifetime: ``open(store:configuration:logger:clock:committed:)``, then ``run()`` until
/// ``finish()`` (which lets the writer commit what is pending, close the store and return).
public final class ReliableLog: Sendable {
    /// Settings of the writer and of retention.
    public struct Configuration: Sendable {
        /// How long the writer lets a small batch grow before committing it.
        public var commitDelay: Duration = .milliseconds(1)
        /// A batch at least this large is committed at once.
        public var commitDelayBelowOperations: Int = 256
        /// The most operations in one transaction.
        public var maxBatchOperations: Int = 8_192
        /// Queued messages older than this are removed (and counted as dropped).
        public var maxAge: Duration = .seconds(7 * 24 * 3600)
        /// Devices not seen for this long are forgotten: they no longer hold messages.
        public var deviceRetention: Duration = .seconds(30 * 24 * 3600)
        /// Room messages older than this are removed.
        public var roomMaxAge: Duration = .seconds(7 * 24 * 3600)
        /// Idempotency keys and their answers are kept this long.
        public var keyRetention: Duration = .seconds(24 * 3600)
        /// How often retention runs.
        public var trimInterval: Duration = .seconds(30)

        /// Creates the default configuration.
        public init() {}
    }

    /// One operation of a committed batch, with its outcome and what its caller attached.
    public struct CommittedOperation: Sendable {
        /// The operation.
        public var operation: ReliableOperation
        /// What the store did with it.
        public var outcome: ReliableOutcome
        /// The value given to ``ReliableLog/perform(_:context:)``.
        public var context: (any Sendable)?
    }

    /// Called after each successful commit with the batch's operations, in order.
    public typealias Committed = @Sendable (_ batch: [CommittedOperation]) -> Void

    private struct Waiting {
        var operation: ReliableOperation
        var continuation: CheckedContinuation<ReliableOutcome, any Error>?
        var context: (any Sendable)?
    }

    private struct Pending {
        var operations: [Waiting] = []
        /// Where the queued acknowledgement of a device is, to merge the next one into it.
        var acknowledgements: [DeviceKey: Int] = [:]
        var writer: CheckedContinuation<Void, Never>?
        var finished = false
    }

    private struct DeviceKey: Hashable {
        var queue: UserQueue
        var device: String
    }

    /// The store behind the log.
    public let store: any ReliableStore
    /// The settings.
    public let configuration: Configuration
    /// The store's epoch: the first part of every message id and room offset.
    public let epoch: String
    private let pending = NIOLockedValueBox(Pending())
    private let committed: Committed
    private let logger: Logger
    private let clock: @Sendable () -> Int64

    private init(store: any ReliableStore, epoch: String, configuration: Configuration, logger: Logger, clock: @escaping @Sendable () -> Int64, committed: @escaping Committed) {
        self.store = store
        self.epoch = epoch
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
        self.committed = committed
    }

    /// Opens `store` and returns a log writing to it.
    ///
    /// - Throws: ``StoreError`` when the store cannot be opened.
    public static func open(
        store: any ReliableStore,
        configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "parley.reliable"),
        clock: @escaping @Sendable () -> Int64 = RecoveryLog.wallClockMilliseconds,
        committed: @escaping Committed = { _ in }
    ) async throws -> ReliableLog {
        let epoch = try await store.open(now: clock())
        return ReliableLog(store: store, epoch: epoch, configuration: configuration, logger: logger, clock: clock, committed: committed)
    }

    /// The current time as the log counts it (milliseconds since 1970).
    public var now: Int64 { clock() }

    // MARK: Writing (any thread)

    /// Queues `operation` and returns its outcome once it is committed.
    ///
    /// - Parameter context: handed to the `committed` handler with the operation.
    /// - Throws: ``StoreError`` when its batch could not be committed (nothing of it is kept),
    ///   or with ``StoreError/Code/notOpen`` once the log is finished.
    public func perform(_ operation: ReliableOperation, context: (any Sendable)? = nil) async throws -> ReliableOutcome {
        try await withCheckedThrowingContinuation { continuation in
            enqueue(Waiting(operation: operation, continuation: continuation, context: context))
        }
    }

    /// Queues `operation` for the next commit without waiting for it; a failure is logged.
    public func submit(_ operation: ReliableOperation) {
        enqueue(Waiting(operation: operation, continuation: nil))
    }

    private func enqueue(_ waiting: Waiting) {
        let (writer, refused) = pending.withLockedValue { pending -> (CheckedContinuation<Void, Never>?, Bool) in
            guard !pending.finished else { return (nil, true) }
            if case .acknowledge(let queue, let device, let through) = waiting.operation, waiting.continuation == nil {
                let key = DeviceKey(queue: queue, device: device)
                if let index = pending.acknowledgements[key], case .acknowledge(_, _, let earlier) = pending.operations[index].operation {
                    pending.operations[index].operation = .acknowledge(queue, device: device, through: max(earlier, through))
                    return (nil, false)
                }
                pending.acknowledgements[key] = pending.operations.count
            }
            pending.operations.append(waiting)
            defer { pending.writer = nil }
            return (pending.writer, false)
        }
        if refused {
            waiting.continuation?.resume(throwing: StoreError(.notOpen, detail: "the reliable log is closed"))
        }
        writer?.resume()
    }

    // MARK: The writer

    /// Commits batches until ``finish()`` was called and nothing is pending, and runs retention
    /// every ``Configuration/trimInterval``; then closes the store.
    ///
    /// Cancellation stops retention but not the writer: the owner calls ``finish()``.
    public func run() async {
        await StoreWriter.run(
            write: { await self.writeLoop() },
            trim: { _ = await self.trimNow() },
            trimInterval: configuration.trimInterval,
            close: { try await self.store.close() },
            what: "reliable store",
            logger: logger
        )
    }

    /// Lets ``run()`` return once what is pending is committed; later operations are refused.
    public func finish() {
        let writer = pending.withLockedValue { pending -> CheckedContinuation<Void, Never>? in
            pending.finished = true
            defer { pending.writer = nil }
            return pending.writer
        }
        writer?.resume()
    }

    private func writeLoop() async {
        while true {
            await lingerWhileSmall()
            guard let batch = await nextBatch() else { return }
            let operations = batch.map(\.operation)
            do {
                let outcomes = try await store.commit(operations, now: clock())
                committed(zip(batch, outcomes).map { CommittedOperation(operation: $0.operation, outcome: $1, context: $0.context) })
                for (waiting, outcome) in zip(batch, outcomes) { waiting.continuation?.resume(returning: outcome) }
            } catch {
                let failure = error as? StoreError ?? StoreError(.ioFailure, detail: "\(error)")
                logger.error("reliable store commit failed", metadata: ["parley.operations": "\(batch.count)", "parley.error": "\(failure)"])
                for waiting in batch { waiting.continuation?.resume(throwing: failure) }
            }
        }
    }

    private func lingerWhileSmall() async {
        let delay = configuration.commitDelay
        guard delay > .zero else { return }
        let small = pending.withLockedValue { pending in
            !pending.finished && pending.operations.count < configuration.commitDelayBelowOperations
        }
        guard small else { return }
        try? await Task.sleep(for: delay) // cancellation only ends the wait early
    }

    /// The next batch; `nil` once finished and drained.
    private func nextBatch() async -> [Waiting]? {
        let limit = configuration.maxBatchOperations
        while true {
            let taken = pending.withLockedValue { pending -> [Waiting]?? in
                if pending.operations.isEmpty { return pending.finished ? .some(nil) : nil }
                let count = min(limit, pending.operations.count)
                let batch = Array(pending.operations.prefix(count))
                pending.operations.removeFirst(count)
                // Indexes of queued acknowledgements moved (or left with the batch).
                pending.acknowledgements = pending.acknowledgements.compactMapValues { $0 >= count ? $0 - count : nil }
                return .some(batch)
            }
            if let taken { return taken }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = pending.withLockedValue { pending -> Bool in
                    guard pending.operations.isEmpty, !pending.finished else { return true }
                    pending.writer = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    /// Runs one retention pass now.
    @discardableResult
    public func trimNow() async -> ReliableTrimResult {
        let now = clock()
        let retention = ReliableRetention(
            messagesBefore: now - configuration.maxAge.milliseconds,
            devicesSeenBefore: now - configuration.deviceRetention.milliseconds,
            roomMessagesBefore: now - configuration.roomMaxAge.milliseconds,
            keysBefore: now - configuration.keyRetention.milliseconds
        )
        do {
            let result = try await store.trim(retention, now: now)
            if result != ReliableTrimResult() {
                logger.debug("reliable store trimmed", metadata: [
                    "parley.messages": "\(result.messages)", "parley.devices": "\(result.devices)",
                    "parley.roomMessages": "\(result.roomMessages)", "parley.keys": "\(result.keys)",
                ])
            }
            return result
        } catch {
            logger.error("reliable store retention failed", metadata: ["parley.error": "\(error)"])
            return ReliableTrimResult()
        }
    }
}
