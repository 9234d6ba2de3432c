import ArgumentParser
import NIOCore
import Synchronization

/// `parley bench connect`: opens many clients at a ramp rate, holds them, reports connect rate,
/// connect latency and the server's memory per connection.
struct ConnectBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect",
        abstract: "Open many clients at a fixed rate, hold them, report connect rate, latency and server RSS per connection."
    )

    @OptionGroup var target: TargetOptions
    @Option(help: "Transport: websocket, polling, or upgrade (polling, then the probe upgrade to WebSocket).") var transport: BenchTransport = .websocket
    @Option(help: "Clients to open.") var clients: Int = 1000
    @Option(help: "Clients opened per second.") var rate: Double = 1000
    @Option(help: "Seconds to hold the connections open after the ramp.") var hold: Double = 5

    func validate() throws {
        guard clients >= 1 else { throw ValidationError("--clients must be at least 1") }
        guard rate > 0 else { throw ValidationError("--rate must be positive") }
        guard hold >= 0 else { throw ValidationError("--hold must not be negative") }
    }

    func run() async throws {
        let benchTarget = try target.target(transport: transport)
        let total = clients
        try await BenchRuntime.withEventLoopGroup(threads: target.threads) { group in
            let fleet = ClientFleet<ConnectClient>(group: group, target: benchTarget)
            let stats = fleet.stats
            let probe = target.serverPID.map(ProcessProbe.init(pid:))
            let rssBefore = probe?.residentKiB()
            BenchLog.line("[connect] opening \(total) \(transport.rawValue) clients at \(rate)/s to \(benchTarget.authority)")
            let window = MeasuredWindow(serverPID: target.serverPID)
            let ramping = BenchRuntime.progress(on: fleet.loops[0]) { second in
                let now = stats.snapshot(histogram: false)
                return "[connect] \(second)s ready=\(now.ready)/\(total) failed=\(now.failed) dropped=\(now.dropped)"
            }
            let start = try await fleet.open(count: clients, rate: rate) { loop, shard, startedAt in
                ConnectClient(loop: loop, shard: shard, startedAt: startedAt)
            }
            ramping.cancel()
            let figures = window.finish()
            let rssAfter = probe?.residentKiB()
            let ramped = stats.snapshot()

            let holdEnd = BenchClock.now() + BenchClock.nanoseconds(hold)
            let holding = BenchRuntime.progress(on: fleet.loops[0]) { second in
                let now = stats.snapshot(histogram: false)
                return "[connect] holding \(second)s: open=\(now.ready - now.dropped) dropped=\(now.dropped)"
            }
            try await BenchRuntime.sleep(until: holdEnd)
            holding.cancel()
            let held = stats.snapshot(histogram: false)
            let rssAfterHold = probe?.residentKiB()

            var report = BenchReport(scenario: "connect")
            report.add("transport", transport.rawValue)
            report.add("clients", clients)
            report.add("target_rate_per_s", rate)
            report.add("connected", ramped.ready)
            report.add("failed", ramped.failed)
            report.add("hold_s", hold)
            report.add("dropped_during_hold", held.dropped)
            let rampSeconds = Double(max(ramped.lastReadyNanos, start + 1) - start) / 1e9
            report.add("throughput_per_s", ramped.ready > 0 ? Double(ramped.ready) / rampSeconds : 0, decimals: 1)
            report.addLatency(ramped.latency)
            report.add("server_rss_before_kib", rssBefore)
            report.add("server_rss_after_kib", rssAfter)
            report.add("server_rss_after_hold_kib", rssAfterHold)
            let perConnection: Double? =
                if let rssBefore, let rssAfter, ramped.ready > 0 {
                    (Double(rssAfter) - Double(rssBefore)) / Double(ramped.ready)
                } else { nil }
            report.add("server_rss_per_connection_kib", perConnection, decimals: 3)
            report.addCPU(figures, messages: ramped.ready, unit: "connection")
            report.add("server_pid", target.serverPID)
            if let failure = ramped.firstFailure { report.add("first_failure", failure) }
            report.emit()
            try await fleet.closeAll()
        }
    }
}
