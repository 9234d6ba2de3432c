import ArgumentParser
import NIOCore
import NIOPosix

/// `parley bench soak`: hours-long churn in minutes. Clients keep connecting over every transport
/// (WebSocket, polling, polling upgraded to WebSocket), talk (echo, room joins, broadcasts, all
/// with acks) and leave by every path (clean close, reset, stop reading, ping timeout), while the
/// server's RSS and CPU time are sampled; a server that leaks shows a rising curve.
struct SoakBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "Churn: clients connect, talk and leave by every path for --duration s; the server's RSS curve and every leave counted.",
        discussion: """
            Each client is planned in turn over every transport (websocket, polling, upgrade) and every \
            leave path (clean_close, reset, stop_reading, ping_timeout); at most --clients are live, new \
            ones open at --rate per second. With --server-pid, the server's VmRSS and CPU time are sampled \
            every --sample-interval s (progress on stderr). After the window, active clients leave and \
            the run waits for the server to close the silent ones (its pingInterval + pingTimeout). \
            Stdout: the RSS curve, the leaves per transport and path, unexpected errors, the figures, \
            then one JSON line.
            """
    )

    @OptionGroup var target: TargetOptions
    @Option(name: .customLong("transport"), help: "Transports to cycle through (repeatable).")
    var transports: [BenchTransport] = BenchTransport.allCases
    @Option(name: .customLong("leave"), help: "Leave paths to cycle through (repeatable).")
    var leaves: [SoakLeave] = SoakLeave.allCases
    @Option(help: "Seconds of churn.") var duration: Double = 600
    @Option(help: "Clients live at most at once.") var clients: Int = 200
    @Option(help: "Clients opened per second (while fewer than --clients are live).") var rate: Double = 20
    @Option(name: .customLong("action-interval"), help: "Seconds between two messages of one client (jittered ±50 %).")
    var actionInterval: Double = 1
    @Option(name: .customLong("life-min"), help: "Shortest active life of a client, in seconds.") var lifeMin: Double = 2
    @Option(name: .customLong("life-max"), help: "Longest active life of a client, in seconds.") var lifeMax: Double = 15
    @Option(help: "Rooms the clients join and broadcast to.") var rooms: Int = 20
    @Option(name: .customLong("payload-bytes"), help: "Characters of the echo and broadcast payloads.") var payloadBytes: Int = 32
    @Option(name: .customLong("sample-interval"), help: "Seconds between two samples of the server.") var sampleInterval: Double = 10
    @Option(name: .customLong("baseline-at"), help: "The sample the end RSS is compared with, in seconds into the run.")
    var baselineAt: Double = 60
    @Option(help: "Seconds to wait for the last clients to leave after the window (default: connect timeout + the server's pingInterval + pingTimeout + 10).")
    var drain: Double?

    func validate() throws {
        guard duration > 0, sampleInterval > 0, actionInterval > 0, rate > 0 else {
            throw ValidationError("--duration, --sample-interval, --action-interval and --rate must be positive")
        }
        guard !transports.isEmpty, !leaves.isEmpty else { throw ValidationError("--transport and --leave need a value") }
        guard clients >= 1, rooms >= 1 else { throw ValidationError("--clients and --rooms must be at least 1") }
        guard lifeMin >= 0, lifeMax >= lifeMin else { throw ValidationError("need 0 <= --life-min <= --life-max") }
        guard payloadBytes >= 0 else { throw ValidationError("--payload-bytes must not be negative") }
        guard (drain ?? 0) >= 0 else { throw ValidationError("--drain must not be negative") }
    }

    func run() async throws {
        var targets: [BenchTransport: BenchTarget] = [:]
        for transport in BenchTransport.allCases { targets[transport] = try target.target(transport: transport) }
        let settings = SoakSettings(transports: transports, leaves: leaves, actionInterval: actionInterval, life: lifeMin...lifeMax, rooms: rooms, payloadBytes: payloadBytes)
        try await BenchRuntime.withEventLoopGroup(threads: target.threads) { group in
            let loops = Array(group.makeIterator())
            let stats = BenchStats(shardCount: loops.count)
            let tallies = loops.map { _ in SoakTallyBox() }
            let drivers = loops.indices.map { slot in
                NIOLoopBoundBox.makeBoxSendingValue(
                    SoakLoop(loop: loops[slot], slot: slot, loopCount: loops.count,
                             capacity: clients / loops.count + (slot < clients % loops.count ? 1 : 0),
                             targets: targets, settings: settings, shard: stats.shards[slot], tally: tallies[slot]),
                    as: SoakLoop.self, eventLoop: loops[slot])
            }
            func onEveryLoop(_ body: @escaping @Sendable (SoakLoop) -> Void) async throws {
                let futures = loops.indices.map { slot in loops[slot].submit { body(drivers[slot].value) } }
                try await EventLoopFuture.andAllSucceed(futures, on: loops[0]).get()
            }

            BenchLog.line("[soak] \(duration) s against \(targets[.websocket]!.authority): at most \(clients) clients, \(rate)/s")
            let start = BenchClock.now() + 50_000_000
            let end = start + BenchClock.nanoseconds(duration)
            let interval = BenchClock.nanoseconds(sampleInterval)
            var curve = SoakCurve(serverPID: target.serverPID, startNanos: start)
            try await onEveryLoop { [rate, loopCount = loops.count] driver in
                driver.start(rate: rate / Double(loopCount), start: start, end: end)
            }
            try await BenchRuntime.sleep(until: start)
            curve.sample(phase: "soak", tally: SoakTallyBox.total(tallies))
            var next = start + interval
            while next < end {
                try await BenchRuntime.sleep(until: next)
                curve.sample(phase: "soak", tally: SoakTallyBox.total(tallies))
                next += interval
            }
            try await BenchRuntime.sleep(until: end)
            curve.sample(phase: "soak", tally: SoakTallyBox.total(tallies))

            try await onEveryLoop { $0.finish() }
            let heartbeat = SoakTallyBox.total(tallies).heartbeatNanos
            let drainNanos = drain.map(BenchClock.nanoseconds)
                ?? BenchClock.nanoseconds(target.connectTimeout + 10) + (heartbeat > 0 ? heartbeat : 45_000_000_000)
            let drainEnd = BenchClock.now() + drainNanos
            BenchLog.line("[soak] window over: waiting at most \(drainNanos / 1_000_000_000) s for the last clients to leave")
            next = end + interval
            while SoakTallyBox.total(tallies).live > 0, BenchClock.now() < drainEnd {
                try await Task.sleep(nanoseconds: 200_000_000)
                if BenchClock.now() >= next {
                    curve.sample(phase: "drain", tally: SoakTallyBox.total(tallies))
                    next += interval
                }
            }
            if SoakTallyBox.total(tallies).live > 0 {
                try await onEveryLoop { $0.abandonRemaining() }
                try await BenchRuntime.wait(until: BenchClock.now() + 3_000_000_000) { SoakTallyBox.total(tallies).live == 0 }
            }
            curve.sample(phase: "end", tally: SoakTallyBox.total(tallies))

            let tally = SoakTallyBox.total(tallies)
            BenchLog.write(curve.table() + "\n" + Self.leaveTable(tally) + "\n" + Self.errorList(tally) + "\n", to: 1)
            report(curve: curve, tally: tally, stats: stats.snapshot()).emit()
        }
    }

    private func report(curve: SoakCurve, tally: SoakTally, stats: StatsShard) -> BenchReport {
        var report = BenchReport(scenario: "soak")
        report.add("duration_s", duration)
        report.add("clients", clients)
        report.add("rate_per_s", rate)
        report.add("action_interval_s", actionInterval)
        report.add("life_s", "\(lifeMin)-\(lifeMax)")
        report.add("rooms", rooms)
        report.add("opened", tally.opened)
        report.add("deferred_at_cap", tally.deferred)
        report.add("connected", stats.ready)
        report.add("connect_failed", stats.failed)
        report.add("upgraded", tally.upgraded)
        report.add("dropped", stats.dropped)
        for (index, leave) in SoakLeave.allCases.enumerated() {
            report.add("left_\(leave.rawValue)", BenchTransport.allCases.reduce(0) { $0 + tally.left($1, leave) })
            report.add("begun_\(leave.rawValue)", tally.leavesBegun[index])
        }
        var left = BenchReport()
        for transport in BenchTransport.allCases {
            var row = BenchReport()
            for leave in SoakLeave.allCases { row.add(leave.rawValue, tally.left(transport, leave)) }
            left.add(transport.rawValue, row)
        }
        report.add("left", left)
        report.add("emits", tally.emits)
        report.add("acks", tally.acks)
        report.add("deliveries", tally.deliveries)
        report.add("messages", tally.messages)
        report.addLatency(stats.latency, prefix: "ack_latency")
        report.add("ping_timeout_close_after_ping_min_s", tally.pingTimeoutCloseDelay?.lowerBound)
        report.add("ping_timeout_close_after_ping_max_s", tally.pingTimeoutCloseDelay?.upperBound)
        let first = curve.samples.first?.rssKiB
        let baseline = curve.rss(at: baselineAt)
        let endOfSoak = curve.endOfSoak
        report.add("server_rss_start_kib", first)
        report.add("baseline_at_s", baselineAt)
        report.add("server_rss_baseline_kib", baseline)
        report.add("server_rss_end_kib", endOfSoak?.rssKiB)
        let ratio: Double? = if let baseline, let end = endOfSoak?.rssKiB, baseline > 0 { Double(end) / Double(baseline) } else { nil }
        report.add("server_rss_end_to_baseline", ratio, decimals: 3)
        report.add("server_rss_goal_met", ratio.map { $0 <= 1.10 ? "yes (<= 1.10)" : "no (> 1.10)" } ?? "-")
        report.add("server_rss_after_drain_kib", curve.samples.last?.rssKiB)
        report.add("server_cpu_soak_s", endOfSoak?.serverCPUSeconds, decimals: 2)
        report.add("server_cpu_total_s", curve.samples.last?.serverCPUSeconds, decimals: 2)
        report.add("server_cpu_us_per_message", endOfSoak.flatMap { sample in
            sample.serverCPUSeconds.map { sample.messages > 0 ? $0 * 1e6 / Double(sample.messages) : 0 }
        }, decimals: 1)
        report.add("unexpected_errors", tally.errorCount)
        var errors = BenchReport()
        for (text, count) in tally.errors.sorted(by: { $0.value > $1.value }) { errors.add(text, count) }
        if tally.otherErrors > 0 { errors.add("other", tally.otherErrors) }
        report.add("errors", errors)
        report.add("server_pid", target.serverPID)
        report.add("curve", .list(curve.rows()))
        return report
    }

    private static func leaveTable(_ tally: SoakTally) -> String {
        let leaves = SoakLeave.allCases
        var rows = [["left by"] + leaves.map(\.rawValue) + ["total"]]
        for transport in BenchTransport.allCases {
            let counts = leaves.map { tally.left(transport, $0) }
            rows.append([transport.rawValue] + counts.map(String.init) + [String(counts.reduce(0, +))])
        }
        rows.append(["(begun)"] + tally.leavesBegun.map(String.init) + [String(tally.leavesBegun.reduce(0, +))])
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { $0.offset == 0
                ? $0.element + String(repeating: " ", count: widths[0] - $0.element.count)
                : String(repeating: " ", count: widths[$0.offset] - $0.element.count) + $0.element
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    private static func errorList(_ tally: SoakTally) -> String {
        guard tally.errorCount > 0 else { return "unexpected errors: none\n" }
        var text = "unexpected errors: \(tally.errorCount)\n"
        for (description, count) in tally.errors.sorted(by: { $0.value > $1.value }) { text += "  \(count)  \(description)\n" }
        if tally.otherErrors > 0 { text += "  \(tally.otherErrors)  (other kinds)\n" }
        return text
    }
}

extension SoakLeave: ExpressibleByArgument {}
