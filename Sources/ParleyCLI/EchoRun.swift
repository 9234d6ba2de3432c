import ArgumentParser
import NIOCore

/// One echo run: connect, measure, drain, report.
struct EchoRun {
    let scenario: String
    let target: TargetOptions
    let ramp: RampOptions
    let transport: BenchTransport
    let clients: Int
    let rate: Double
    let duration: Double
    let payloadBytes: Int
    let drain: Double

    static func validate(clients: Int, rate: Double, duration: Double, payloadBytes: Int) throws {
        guard clients >= 1 else { throw ValidationError("--clients must be at least 1") }
        guard rate >= 0 else { throw ValidationError("--rate must be 0 (closed loop) or positive") }
        guard duration > 0 else { throw ValidationError("--duration must be positive") }
        guard payloadBytes >= 0 else { throw ValidationError("--payload-bytes must not be negative") }
    }

    func run() async throws {
        let benchTarget = try target.target(transport: transport)
        let request = EchoClient.request(payloadBytes: payloadBytes)
        let rate = self.rate
        try await BenchRuntime.withEventLoopGroup(threads: target.threads) { group in
            let fleet = ClientFleet<EchoClient>(group: group, target: benchTarget)
            let stats = fleet.stats
            let total = clients
            BenchLog.line("[\(scenario)] connecting \(total) \(transport.rawValue) clients to \(benchTarget.authority)")
            let connecting = BenchRuntime.progress(on: fleet.loops[0]) { second in
                let now = stats.snapshot(histogram: false)
                return "[\(scenario)] \(second)s connecting: ready=\(now.ready)/\(total) failed=\(now.failed)"
            }
            _ = try await fleet.open(count: clients, rate: ramp.connectRate) { loop, shard, startedAt in
                EchoClient(loop: loop, shard: shard, startedAt: startedAt, request: request)
            }
            connecting.cancel()
            let connected = stats.snapshot(histogram: false)
            guard connected.ready > 0 else {
                throw BenchError("no client connected (\(connected.failed) failed: \(connected.firstFailure ?? "?"))")
            }

            let window = MeasuredWindow(serverPID: target.serverPID)
            let start = window.startNanos + 20_000_000  // every loop starts on the same instant
            let end = start + BenchClock.nanoseconds(duration)
            try await fleet.forEachLoop { slot, clients in
                let loop = fleet.loops[slot]
                if rate > 0 {
                    let share = rate * Double(clients.count) / Double(connected.ready)
                    let stagger = UInt64(Double(slot) * 1e9 / rate)  // interleave the loops' schedules
                    EchoLoopDriver(clients: clients).start(loop: loop, rate: share, start: start + stagger, end: end)
                } else {
                    loop.assumeIsolated().scheduleTask(deadline: BenchClock.deadline(start)) {
                        for client in clients { client.startClosedLoop(until: end) }
                    }
                }
            }
            let acks = RateMeter()
            let measuring = BenchRuntime.progress(on: fleet.loops[0]) { second in
                let now = stats.snapshot(histogram: false)
                return "[\(scenario)] \(second)s sent=\(now.sent) acked=\(now.completed) (\(acks.delta(now.completed))/s) dropped=\(now.dropped)"
            }
            try await BenchRuntime.sleep(until: end)
            measuring.cancel()
            try await BenchRuntime.wait(until: end + BenchClock.nanoseconds(drain)) {
                let now = stats.snapshot(histogram: false)
                return now.completed >= now.sent
            }
            let figures = window.finish()
            let result = stats.snapshot()

            var report = BenchReport(scenario: scenario)
            report.add("transport", transport.rawValue)
            report.add("mode", rate > 0 ? "open" : "closed")
            report.add("clients", clients)
            report.add("connected", result.ready)
            report.add("failed", result.failed)
            report.add("dropped", result.dropped)
            report.add("target_rate_per_s", rate > 0 ? rate : nil)
            report.add("duration_s", duration)
            report.add("payload_bytes", payloadBytes)
            report.add("sent", result.sent)
            report.add("acked", result.completed)
            report.add("unacked", result.sent - min(result.sent, result.completed))
            let elapsed = Double(max(end, result.lastCompletionNanos) - start) / 1e9
            report.add("throughput_per_s", Double(result.completed) / elapsed, decimals: 1)
            report.addLatency(result.latency)
            report.addCPU(figures, messages: result.completed, unit: "round trip")
            report.add("server_pid", target.serverPID)
            if let failure = result.firstFailure { report.add("first_failure", failure) }
            report.emit()
            try await fleet.closeAll()
        }
    }
}
