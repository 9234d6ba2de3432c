import Histogram
import Synchronization

/// Counters and the latency histogram of the clients of one event loop.
struct StatsShard: Sendable {
    /// Latencies above this (µs) are recorded as this value.
    static let highestTrackableMicroseconds: UInt64 = 60_000_000

    var latency = Histogram<UInt64>(
        lowestDiscernibleValue: 1,
        highestTrackableValue: StatsShard.highestTrackableMicroseconds,
        numberOfSignificantValueDigits: .three
    )
    /// Messages sent (echo requests, broadcasts).
    var sent: UInt64 = 0
    /// Messages completed (acks, deliveries).
    var completed: UInt64 = 0
    /// Clients that became ready (connected, and joined where the scenario joins).
    var ready: UInt64 = 0
    /// Clients that failed before they were ready.
    var failed: UInt64 = 0
    /// Clients that lost their connection after they were ready.
    var dropped: UInt64 = 0
    /// When the last client became ready.
    var lastReadyNanos: UInt64 = 0
    /// When the last message completed.
    var lastCompletionNanos: UInt64 = 0
    /// The first failure reason seen, for the report.
    var firstFailure: String?

    mutating func recordLatency(nanoseconds: UInt64) {
        let micros = Swift.min(nanoseconds / 1000, Self.highestTrackableMicroseconds)
        _ = latency.record(micros)
    }

    mutating func recordCompletion(scheduledAt: UInt64, now: UInt64) {
        completed += 1
        lastCompletionNanos = Swift.max(lastCompletionNanos, now)
        recordLatency(nanoseconds: now &- scheduledAt)
    }

    mutating func merge(_ other: StatsShard, histogram: Bool) {
        if histogram { latency.add(other.latency) }
        sent += other.sent
        completed += other.completed
        ready += other.ready
        failed += other.failed
        dropped += other.dropped
        lastReadyNanos = Swift.max(lastReadyNanos, other.lastReadyNanos)
        lastCompletionNanos = Swift.max(lastCompletionNanos, other.lastCompletionNanos)
        firstFailure = firstFailure ?? other.firstFailure
    }
}

/// One shard behind its own lock. Only the clients of one event loop write to it, so the lock
/// is uncontended except when the coordinator reads progress.
final class StatsShardBox: Sendable {
    let state = Mutex(StatsShard())
}

/// The statistics of one run, sharded per event loop.
final class BenchStats: Sendable {
    let shards: [StatsShardBox]

    init(shardCount: Int) {
        shards = (0..<shardCount).map { _ in StatsShardBox() }
    }

    /// All shards merged; `histogram: false` skips the (large) histogram for progress lines.
    func snapshot(histogram: Bool = true) -> StatsShard {
        var total = StatsShard()
        for shard in shards {
            let copy = shard.state.withLock { $0 }
            total.merge(copy, histogram: histogram)
        }
        return total
    }
}
