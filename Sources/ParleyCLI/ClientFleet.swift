import NIOCore
import NIOPosix

/// The clients of one run, opened at a fixed rate, spread round-robin over the event loops and
/// kept per loop, so a scenario can drive each loop's clients on that loop without locks.
final class ClientFleet<Client: BenchSocket>: Sendable {
    let target: BenchTarget
    let loops: [any EventLoop]
    let stats: BenchStats
    private let pools: [NIOLoopBoundBox<[Client]>]

    init(group: MultiThreadedEventLoopGroup, target: BenchTarget) {
        self.target = target
        self.loops = Array(group.makeIterator())
        self.stats = BenchStats(shardCount: loops.count)
        self.pools = loops.map { NIOLoopBoundBox.makeBoxSendingValue([], as: [Client].self, eventLoop: $0) }
    }

    /// Opens `count` clients at `rate` per second (client `i` on loop `i % loops.count`, built
    /// there by `make`) and returns once every one is ready or failed. Returns the ramp's start.
    func open(
        count: Int,
        rate: Double,
        make: @escaping @Sendable (_ loop: any EventLoop, _ shard: StatsShardBox, _ startedAt: UInt64) -> Client
    ) async throws -> UInt64 {
        try await open(count: count, rate: rate) { _, loop, shard, startedAt in make(loop, shard, startedAt) }
    }

    /// ``open(count:rate:make:)`` with `make` also given the client's index (0 ..< `count`).
    func open(
        count: Int,
        rate: Double,
        make: @escaping @Sendable (_ index: Int, _ loop: any EventLoop, _ shard: StatsShardBox, _ startedAt: UInt64) -> Client
    ) async throws -> UInt64 {
        let start = BenchClock.now()
        let loops = self.loops
        let pools = self.pools
        let stats = self.stats
        let target = self.target
        let first = loops[0]
        let all = first.flatSubmit {
            let ramp = RampFutures()
            let pacer = Pacer(loop: first, rate: rate, start: start, limit: UInt64(count)) { sequence, scheduledAt in
                let index = Int(sequence)
                let slot = index % loops.count
                let loop = loops[slot]
                ramp.futures.append(loop.flatSubmit {
                    let client = make(index, loop, stats.shards[slot], scheduledAt)
                    pools[slot].value.append(client)
                    client.start(target: target, index: index)
                    return client.readyFuture
                })
            }
            pacer.start()
            return pacer.futureResult.assumeIsolated().flatMap {
                EventLoopFuture.whenAllComplete(ramp.futures, on: first)
            }.nonisolated()
        }
        _ = try await all.get()
        return start
    }

    /// Runs `body` on every loop with the clients of that loop that are connected.
    func forEachLoop(_ body: @escaping @Sendable (_ slot: Int, _ clients: [Client]) -> Void) async throws {
        let futures = loops.indices.map { slot in
            loops[slot].submit { [pools] in
                body(slot, pools[slot].value.filter(\.isConnected))
            }
        }
        try await EventLoopFuture.andAllSucceed(futures, on: loops[0]).get()
    }

    /// Closes every client.
    func closeAll() async throws {
        let futures = loops.indices.map { slot in
            loops[slot].submit { [pools] in
                for client in pools[slot].value { client.close() }
                pools[slot].value.removeAll()
            }
        }
        try await EventLoopFuture.andAllSucceed(futures, on: loops[0]).get()
    }
}

/// The ready futures of a ramp, collected on the ramp's loop.
private final class RampFutures {
    var futures: [EventLoopFuture<Void>] = []
}
