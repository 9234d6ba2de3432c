import NIOConcurrencyHelpers

/// A reliable store that lives as long as the process: the reference implementation of
/// ``ReliableStore``, for tests and for servers that accept losing their queues on a restart.
///
/// Each instance has its own epoch, created on its first ``open(now:)``. Opening it again
/// (after ``close()`` or not) is like a restart of the server within the process: the epoch,
/// the queues, the rooms and the keys are kept.
///
/// ```swift
/// let store = InMemoryReliableStore()
/// let epoch = try await store.open(now: 0)
/// let outcomes = try await store.commit([.registerDevice(queue, device: "phone")], now: 0)
/// ```
public final class InMemoryReliableStore: ReliableStore {
    private let state = NIOLockedValueBox(State())

    /// Creates an empty store.
    public init() {}

    /// Opens the store: its epoch, new with the instance.
    public func open(now: Int64) async throws -> String {
        state.withLockedValue { state in
            state.isOpen = true
            if let epoch = state.epoch { return epoch }
            let epoch = RecoveryOffset.makeEpoch()
            state.epoch = epoch
            return epoch
        }
    }

    /// Applies the operations of `batch` in order.
    ///
    /// - Throws: ``StoreError`` with ``StoreError/Code/notOpen`` before ``open(now:)`` or after
    ///   ``close()``.
    public func commit(_ batch: [ReliableOperation], now: Int64) async throws -> [ReliableOutcome] {
        try withOpenState("commit") { state in batch.map { state.apply($0, now: now) } }
    }

    /// The messages of `queue` after `sequence`, oldest first, at most `limit`.
    public func messages(in queue: UserQueue, after sequence: UInt64, limit: Int) async throws -> [QueuedMessage] {
        try withOpenState("messages") { state in
            guard limit > 0, let messages = state.queues[queue]?.messages else { return [] }
            let start = messages.partitioningIndex { $0.sequence > sequence }
            return Array(messages[start...].prefix(limit))
        }
    }

    /// The position of `device` in `queue`; `nil` when the device is not known.
    public func position(of device: String, in queue: UserQueue) async throws -> UInt64? {
        try withOpenState("position") { state in state.queues[queue]?.devices[device]?.position }
    }

    /// The depth of `queue` and its oldest message.
    public func state(of queue: UserQueue) async throws -> UserQueueState {
        try withOpenState("state") { state in state.queues[queue]?.state ?? UserQueueState() }
    }

    /// A page of the history of `room`.
    public func history(of room: RoomKey, after offset: UInt64?, limit: Int, newest: Bool) async throws -> HistoryPage {
        try withOpenState("history") { state in
            (state.rooms[room] ?? Room()).page(after: offset, limit: limit, newest: newest)
        }
    }

    /// The record of the idempotency `key` in `scope`, if the store still has it.
    public func idempotencyRecord(_ scope: IdempotencyScope, key: String) async throws -> IdempotencyRecord? {
        try withOpenState("idempotencyRecord") { state in state.records[RecordKey(scope: scope, key: key)] }
    }

    /// Removes what retention no longer keeps, in the order and with the rules of
    /// ``ReliableStore/trim(_:now:)``.
    public func trim(_ retention: ReliableRetention, now: Int64) async throws -> ReliableTrimResult {
        try withOpenState("trim") { state in state.trim(retention) }
    }

    /// Closes the store; opening it again keeps what it holds.
    public func close() async throws {
        state.withLockedValue { $0.isOpen = false }
    }

    private func withOpenState<T>(_ operation: String, _ body: (inout State) -> T) throws -> T {
        try state.withLockedValue { state in
            guard state.isOpen else { throw StoreError(.notOpen, detail: "\(operation) before open or after close") }
            return body(&state)
        }
    }
}

extension InMemoryReliableStore {
    /// Everything the store holds.
    struct State {
        var epoch: String?
        var isOpen = false
        /// The sequence of the next message enqueued, across all queues.
        var nextSequence: UInt64 = 1
        var queues: [UserQueue: Queue] = [:]
        var rooms: [RoomKey: Room] = [:]
        /// The origins of enqueued messages: the first sequence of each, and when it was enqueued.
        var origins: [String: (sequence: UInt64, time: Int64)] = [:]
        var records: [RecordKey: IdempotencyRecord] = [:]

        mutating func apply(_ operation: ReliableOperation, now: Int64) -> ReliableOutcome {
            switch operation {
            case .enqueue(let key, let message, let bounds, let origin):
                if let origin, let first = origins[origin] {
                    return .enqueued(sequence: first.sequence, dropped: 0, duplicate: true)
                }
                let sequence = nextSequence
                guard let dropped = queues[key, default: Queue()].enqueue(message, sequence: sequence, bounds: bounds) else {
                    return .queueFull(queues[key, default: Queue()].state)
                }
                nextSequence += 1
                if let origin { origins[origin] = (sequence, now) }
                return .enqueued(sequence: sequence, dropped: dropped, duplicate: false)
            case .appendToRoom(let key, let message, let maxMessages):
                return .appended(offset: rooms[key, default: Room()].append(message, maxMessages: maxMessages))
            case .acknowledge(let key, let device, let through):
                queues[key, default: Queue()].acknowledge(device: device, through: through, now: now)
                return .applied
            case .registerDevice(let key, let device):
                queues[key, default: Queue()].register(device: device, now: now)
                return .applied
            case .remember(let record):
                let key = RecordKey(scope: record.scope, key: record.key)
                if records[key] == nil { records[key] = record }
                return .applied
            }
        }

        mutating func trim(_ retention: ReliableRetention) -> ReliableTrimResult {
            var result = ReliableTrimResult()
            queues.mutateEachValue { queue in
                let (devices, acknowledged) = queue.forgetDevices(seenBefore: retention.devicesSeenBefore)
                result.devices += devices
                result.messages += acknowledged
            }
            // By age: the oldest sequences across all queues, up to the first message accepted
            // at or after the cut.
            let firstKept = queues.values.compactMap { $0.firstSequence(acceptedFrom: retention.messagesBefore) }.min() ?? .max
            queues.mutateEachValue { queue in result.messages += queue.dropMessages(before: firstKept) }
            rooms.mutateEachValue { room in result.roomMessages += room.removeMessages(before: retention.roomMessagesBefore) }
            let recordCount = records.count
            records = records.filter { $0.value.timeMilliseconds >= retention.keysBefore }
            let originCount = origins.count
            origins = origins.filter { $0.value.time >= retention.keysBefore }
            result.keys = recordCount - records.count + originCount - origins.count
            return result
        }
    }

    /// The key of an idempotency record.
    struct RecordKey: Hashable {
        var scope: IdempotencyScope
        var key: String
    }
}

extension Dictionary {
    /// Calls `body` on each value in place, without copying the dictionary's storage.
    mutating func mutateEachValue(_ body: (inout Value) -> Void) {
        var index = startIndex
        while index != endIndex {
            body(&values[index])
            index = self.index(after: index)
        }
    }
}
