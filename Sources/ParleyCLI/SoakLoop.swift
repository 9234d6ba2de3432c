import NIOCore
import Synchronization

/// The soak clients of one event loop, loop-confined: opens new ones at its share of the rate
/// while fewer than its share of `--clients` are live, and plans each one's transport, leave
/// path, life and first room.
final class SoakLoop {
    private let loop: any EventLoop
    private let slot: Int
    private let loopCount: Int
    private let capacity: Int
    private let targets: [BenchTransport: BenchTarget]
    private let settings: SoakSettings
    private let shard: StatsShardBox
    private let tally: SoakTallyBox
    private var live: [ObjectIdentifier: SoakClient] = [:]
    private var random: XorshiftGenerator
    /// The soak window is over: no new clients; active ones leave.
    private(set) var isEnding = false

    init(loop: any EventLoop, slot: Int, loopCount: Int, capacity: Int, targets: [BenchTransport: BenchTarget],
         settings: SoakSettings, shard: StatsShardBox, tally: SoakTallyBox) {
        self.loop = loop
        self.slot = slot
        self.loopCount = loopCount
        self.capacity = capacity
        self.targets = targets
        self.settings = settings
        self.shard = shard
        self.tally = tally
        self.random = XorshiftGenerator(seed: 0x5EED_0000 &+ UInt64(slot))
    }

    /// Opens clients at `rate` per second from `start` until `end`; runs on the loop.
    func start(rate: Double, start: UInt64, end: UInt64) {
        Pacer(loop: loop, rate: rate, start: start, end: end) { sequence, scheduledAt in
            self.open(sequence: sequence, scheduledAt: scheduledAt)
        }.start()
    }

    /// Ends the soak window: active clients leave by their paths, connecting ones once ready.
    func finish() {
        isEnding = true
        for client in Array(live.values) { client.leaveNow() }
    }

    /// Closes every client still here after the drain, each counted as an error.
    func abandonRemaining() {
        for client in Array(live.values) { client.abandon() }
    }

    func clientEnded(_ client: SoakClient) {
        live.removeValue(forKey: ObjectIdentifier(client))
    }

    private func open(sequence: UInt64, scheduledAt: UInt64) {
        guard !isEnding else { return }
        guard live.count < capacity else {
            tally.state.withLock { $0.deferred += 1 }
            return
        }
        // Consecutive clients of all loops cycle through every transport × leave path.
        let index = Int(sequence) * loopCount + slot
        let transports = settings.transports
        let leaves = settings.leaves
        let span = settings.lifeNanos.upperBound - settings.lifeNanos.lowerBound
        let plan = SoakClient.Plan(
            transport: transports[index % transports.count],
            leave: leaves[(index / transports.count) % leaves.count],
            lifeNanos: settings.lifeNanos.lowerBound + (span == 0 ? 0 : random.next() % (span + 1)),
            room: Int(random.next() % UInt64(settings.joins.count))
        )
        let client = SoakClient(loop: loop, shard: shard, startedAt: scheduledAt, plan: plan, settings: settings,
                                tally: tally, driver: self, seed: random.next())
        live[ObjectIdentifier(client)] = client
        tally.state.withLock { $0.opened += 1 }
        client.start(target: targets[plan.transport]!, index: index)
    }
}
