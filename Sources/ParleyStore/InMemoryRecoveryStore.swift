import Synchronization
import NIOConcurrencyHelpers

/// A recovery store that lives as long as the process: the reference server's recovery,
/// behind the same protocol as the durable stores. A restart of the process starts a new
/// epoch, so clients of the previous process get fresh sessions.
public final class InMemoryRecoveryStore: RecoveryStore {
    private struct State {
        var epoch: String?
        var nextSequence: UInt64 = 1
        /// Sorted by sequence.
        var entries: [LogEntry] = []
        var bytes = 0
        var sessions: [String: SessionRecord] = [:]
        /// The highest sequence removed by retention.
        var trimmedThrough: UInt64 = 0
    }

    private let state = NIOLockedValueBox(State())

    /// Creates an empty store.
    public init() {}

    public func open(now: Int64) async throws -> RecoveryStoreState {
        state.withLockedValue { state in
            if let epoch = state.epoch {
                // Opened again by a new server in the same process: like a restart.
                state.nextSequence += 1 << 32
                for (pid, session) in state.sessions where session.disconnectedAtMilliseconds == nil {
                    state.sessions[pid]?.disconnectedAtMilliseconds = now
                }
                return RecoveryStoreState(epoch: epoch, nextSequence: state.nextSequence)
            }
            let epoch = RecoveryOffset.makeEpoch()
            state.epoch = epoch
            return RecoveryStoreState(epoch: epoch, nextSequence: state.nextSequence)
        }
    }

    public func commit(_ batch: RecoveryBatch) async throws {
        try state.withLockedValue { state in
            guard state.epoch != nil else { throw StoreError(.notOpen, detail: "commit before open") }
            for entry in batch.entries {
                state.bytes += entry.byteCount
                state.nextSequence = max(state.nextSequence, entry.sequence + 1)
                if let last = state.entries.last, last.sequence > entry.sequence {
                    let index = state.entries.partitioningIndex { $0.sequence > entry.sequence }
                    state.entries.insert(entry, at: index)
                } else {
                    state.entries.append(entry)
                }
            }
            for session in batch.sessions { state.sessions[session.pid] = session }
            for pid in batch.removedSessions { state.sessions[pid] = nil }
        }
    }

    public func replay(namespace: String, after sequence: UInt64, rooms: Set<String>, limit: Int) async throws -> Replay {
        try state.withLockedValue { state in
            guard state.epoch != nil else { throw StoreError(.notOpen, detail: "replay before open") }
            guard sequence >= state.trimmedThrough else { return .expired }
            guard limit > 0 else { return .entries([]) }
            var selected: [LogEntry] = []
            let start = state.entries.partitioningIndex { $0.sequence > sequence }
            for entry in state.entries[start...] where entry.namespace == namespace && entry.isAddressed(to: rooms) {
                selected.append(entry)
                if selected.count == limit { break }
            }
            return .entries(selected)
        }
    }

    public func takeSession(pid: String) async throws -> SessionRecord? {
        state.withLockedValue { $0.sessions.removeValue(forKey: pid) }
    }

    public func trim(_ cut: RetentionCut) async throws -> TrimResult {
        state.withLockedValue { state in
            var removeCount = state.entries.partitioningIndex { $0.timeMilliseconds >= cut.entriesBeforeMilliseconds }
            removeCount = max(removeCount, state.entries.count - cut.maxEntries)
            var bytes = state.bytes
            for entry in state.entries[..<removeCount] { bytes -= entry.byteCount }
            while bytes > cut.maxBytes, removeCount < state.entries.count {
                bytes -= state.entries[removeCount].byteCount
                removeCount += 1
            }
            if removeCount > 0 {
                state.trimmedThrough = max(state.trimmedThrough, state.entries[removeCount - 1].sequence)
                state.entries.removeFirst(removeCount)
                state.bytes = bytes
            }
            let expired = state.sessions.values.filter { session in
                guard let left = session.disconnectedAtMilliseconds else { return false }
                return left < cut.sessionsDisconnectedBeforeMilliseconds
            }
            for session in expired { state.sessions[session.pid] = nil }
            return TrimResult(entries: removeCount, sessions: expired.count)
        }
    }

    public func close() async throws {}

    /// The number of entries kept (tests, metrics).
    public var entryCount: Int { state.withLockedValue { $0.entries.count } }
}

extension RandomAccessCollection {
    /// The first index whose element satisfies `predicate`, which must be false for a prefix
    /// of the collection and true for the rest.
    func partitioningIndex(where predicate: (Element) -> Bool) -> Index {
        var low = startIndex
        var high = endIndex
        while low != high {
            let middle = index(low, offsetBy: distance(from: low, to: high) / 2)
            if predicate(self[middle]) { high = middle } else { low = index(after: middle) }
        }
        return low
    }
}
