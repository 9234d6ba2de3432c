import NIOCore

/// Calls `fire` at a fixed rate on one event loop, passing the instant each call was
/// *scheduled* for, so a caller that measures latency from it counts late sends instead of
/// hiding them (coordinated omission).
///
/// Calls that fell due while the loop was busy are made in a burst (at most `burstLimit` per
/// turn, so I/O is not starved); `batchEnded` runs after every burst, e.g. to flush.
final class Pacer {
    private static let burstLimit = 1024

    private let loop: any EventLoop
    private let startNanos: UInt64
    private let intervalNanos: Double
    private let endNanos: UInt64
    private let limit: UInt64
    private let fire: (_ sequence: UInt64, _ scheduledAt: UInt64) -> Void
    private let batchEnded: () -> Void
    private let finished: EventLoopPromise<Void>
    private var sequence: UInt64 = 0

    /// - Parameters:
    ///   - rate: calls per second.
    ///   - start: the instant of the first call.
    ///   - end: no call is scheduled at or after this instant.
    ///   - limit: at most this many calls.
    init(
        loop: any EventLoop,
        rate: Double,
        start: UInt64,
        end: UInt64 = .max,
        limit: UInt64 = .max,
        fire: @escaping (_ sequence: UInt64, _ scheduledAt: UInt64) -> Void,
        batchEnded: @escaping () -> Void = {}
    ) {
        precondition(rate > 0, "a pacer needs a positive rate")
        self.loop = loop
        self.startNanos = start
        self.intervalNanos = 1e9 / rate
        self.endNanos = end
        self.limit = limit
        self.fire = fire
        self.batchEnded = batchEnded
        self.finished = loop.makePromise()
    }

    /// Succeeds after the last call.
    var futureResult: EventLoopFuture<Void> { finished.futureResult }

    /// Starts calling; must run on the loop.
    func start() {
        schedule(at: dueTime(of: 0))
    }

    private func dueTime(of sequence: UInt64) -> UInt64 {
        startNanos &+ UInt64(Double(sequence) * intervalNanos)
    }

    private func schedule(at due: UInt64) {
        guard due < endNanos, sequence < limit else {
            finished.succeed()
            return
        }
        // The task holds this pacer (and its closures) until the last call.
        loop.assumeIsolated().scheduleTask(deadline: BenchClock.deadline(due)) { self.tick() }
    }

    private func tick() {
        let now = BenchClock.now()
        var due = dueTime(of: sequence)
        var burst = 0
        while due <= now, due < endNanos, sequence < limit, burst < Self.burstLimit {
            fire(sequence, due)
            sequence += 1
            burst += 1
            due = dueTime(of: sequence)
        }
        batchEnded()
        schedule(at: due)
    }
}
