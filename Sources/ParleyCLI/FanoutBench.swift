import ArgumentParser
import NIOCore

/// `parley bench fanout`: one publisher broadcasts to a room of many subscribers.
struct FanoutBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fanout",
        abstract: "Room fan-out: subscribers join a room, one publisher broadcasts at a fixed rate; deliveries/s and end-to-end latency."
    )

    @OptionGroup var target: TargetOptions
    @OptionGroup var ramp: RampOptions
    @Option(help: "Transport: websocket, polling, or upgrade (polling, then the probe upgrade to WebSocket).") var transport: BenchTransport = .websocket
    @Option(help: "Subscribers in the room.") var clients: Int = 1000
    @Option(help: "Broadcasts per second.") var rate: Double = 100
    @Option(help: "Seconds of measured load.") var duration: Double = 10
    @Option(name: .customLong("payload-bytes"), help: "Characters of the broadcast payload (send timestamp included).")
    var payloadBytes: Int = 100
    @Option(help: "Room name.") var room: String = "bench"
    @Option(
        help: "Rooms: with more than one, subscriber i joins room <room>-<i % rooms> and the publisher cycles through them, one room per broadcast (--rooms equal to --clients: every broadcast reaches one socket)."
    )
    var rooms: Int = 1
    @Option(help: "Seconds to wait for outstanding deliveries after the window.") var drain: Double = 5

    func validate() throws {
        guard clients >= 1 else { throw ValidationError("--clients must be at least 1") }
        guard rate > 0 else { throw ValidationError("--rate must be positive") }
        guard duration > 0 else { throw ValidationError("--duration must be positive") }
        guard payloadBytes >= 0 else { throw ValidationError("--payload-bytes must not be negative") }
        guard rooms >= 1, rooms <= clients else { throw ValidationError("--rooms must be between 1 and --clients") }
    }

    /// The room names: `room` alone, or `room-0` … `room-<rooms - 1>`.
    private var roomNames: [String] {
        rooms == 1 ? [room] : (0..<rooms).map { "\(room)-\($0)" }
    }

    func run() async throws {
        let benchTarget = try target.target(transport: transport)
        let (roomNames, payloadBytes, rate, total) = (self.roomNames, self.payloadBytes, self.rate, self.clients)
        let audience = FanoutAudience(rooms: roomNames.count)
        try await BenchRuntime.withEventLoopGroup(threads: target.threads) { group in
            let subscribers = ClientFleet<FanoutSubscriber>(group: group, target: benchTarget)
            let publishers = ClientFleet<FanoutPublisher>(group: group, target: benchTarget)
            let stats = subscribers.stats
            let destination = roomNames.count == 1 ? "room \(roomNames[0])" : "\(roomNames.count) rooms"
            BenchLog.line("[fanout] connecting \(total) \(transport.rawValue) subscribers to \(destination) at \(benchTarget.authority)")
            let joining = BenchRuntime.progress(on: subscribers.loops[0]) { second in
                let now = stats.snapshot(histogram: false)
                return "[fanout] \(second)s joined=\(now.ready)/\(total) failed=\(now.failed)"
            }
            _ = try await subscribers.open(count: clients, rate: ramp.connectRate) { index, loop, shard, startedAt in
                FanoutSubscriber(loop: loop, shard: shard, startedAt: startedAt, room: roomNames[index % roomNames.count])
            }
            _ = try await publishers.open(count: 1, rate: 1) { loop, shard, startedAt in
                FanoutPublisher(loop: loop, shard: shard, startedAt: startedAt, rooms: roomNames, payloadBytes: payloadBytes)
            }
            joining.cancel()
            let joined = stats.snapshot(histogram: false).ready
            let publisherState = publishers.stats.snapshot(histogram: false)
            guard joined > 0, publisherState.ready == 1 else {
                let failure = stats.snapshot(histogram: false).firstFailure ?? publisherState.firstFailure ?? "?"
                throw BenchError("\(joined) subscribers joined, publisher ready: \(publisherState.ready == 1) (\(failure))")
            }

            let window = MeasuredWindow(serverPID: target.serverPID)
            let start = window.startNanos + 20_000_000
            let end = start + BenchClock.nanoseconds(duration)
            try await publishers.forEachLoop { slot, publishers in
                guard let publisher = publishers.first else { return }
                Pacer(loop: publisher.loop, rate: rate, start: start, end: end) { _, scheduledAt in
                    publisher.publish(scheduledAt: scheduledAt)
                }.start()
            }
            let deliveries = RateMeter()
            let measuring = BenchRuntime.progress(on: subscribers.loops[0]) { second in
                let sent = publishers.stats.snapshot(histogram: false).sent
                let now = stats.snapshot(histogram: false)
                return "[fanout] \(second)s published=\(sent) delivered=\(now.completed) (\(deliveries.delta(now.completed))/s) dropped=\(now.dropped)"
            }
            try await BenchRuntime.sleep(until: end)
            measuring.cancel()
            try await BenchRuntime.wait(until: end + BenchClock.nanoseconds(drain)) {
                let sent = publishers.stats.snapshot(histogram: false).sent
                let now = stats.snapshot(histogram: false)
                return now.completed >= audience.deliveries(published: sent, subscribers: now.ready - now.dropped)
            }
            let figures = window.finish()
            let result = stats.snapshot()
            let published = publishers.stats.snapshot(histogram: false).sent
            let expected = audience.deliveries(published: published, subscribers: UInt64(joined))

            var report = BenchReport(scenario: "fanout")
            report.add("transport", transport.rawValue)
            report.add("clients", clients)
            report.add("rooms", rooms)
            report.add("subscribed", joined)
            report.add("failed", result.failed)
            report.add("dropped", result.dropped)
            report.add("target_rate_per_s", rate)
            report.add("duration_s", duration)
            report.add("payload_bytes", payloadBytes)
            report.add("published", published)
            report.add("delivered", result.completed)
            report.add("expected_deliveries", expected)
            report.add("delivery_ratio", expected > 0 ? Double(result.completed) / Double(expected) : nil, decimals: 4)
            let elapsed = Double(max(end, result.lastCompletionNanos) - start) / 1e9
            report.add("throughput_per_s", Double(result.completed) / elapsed, decimals: 1)
            report.addLatency(result.latency)
            report.addCPU(figures, messages: result.completed, unit: "delivery")
            report.add("server_pid", target.serverPID)
            if let failure = result.firstFailure { report.add("first_failure", failure) }
            report.emit()
            try await publishers.closeAll()
            try await subscribers.closeAll()
        }
    }
}

/// How many deliveries the broadcasts of a run make when subscriber `i` is in room `i % rooms`
/// and broadcast `k` goes to room `k % rooms`.
struct FanoutAudience: Sendable {
    let rooms: UInt64

    init(rooms: Int) {
        self.rooms = UInt64(rooms)
    }

    func deliveries(published: UInt64, subscribers: UInt64) -> UInt64 {
        guard rooms > 1 else { return published * subscribers }
        // Rooms below `subscribers % rooms` have one subscriber more than the others.
        let (cycles, rest) = published.quotientAndRemainder(dividingBy: rooms)
        let (perRoom, larger) = subscribers.quotientAndRemainder(dividingBy: rooms)
        return cycles * subscribers + rest * perRoom + min(rest, larger)
    }
}
