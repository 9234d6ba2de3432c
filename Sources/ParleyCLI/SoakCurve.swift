/// The server's resident memory and CPU time over a soak, sampled at a fixed interval, next to
/// how many clients were opened and messages exchanged by then.
struct SoakCurve {
    struct Sample {
        var seconds: Double
        /// `soak` while clients churn, `drain` while the last ones leave, `end` after.
        var phase: String
        var rssKiB: UInt64?
        var serverCPUSeconds: Double?
        var opened: UInt64
        var live: UInt64
        var messages: UInt64
        var left: UInt64
        var errors: UInt64
    }

    private let probe: ProcessProbe?
    private let startNanos: UInt64
    private let cpuStart: UInt64?
    private(set) var samples: [Sample] = []

    init(serverPID: Int32?, startNanos: UInt64) {
        probe = serverPID.map(ProcessProbe.init(pid:))
        self.startNanos = startNanos
        cpuStart = probe?.cpuMicroseconds()
    }

    /// Takes one sample now and prints it as a progress line.
    mutating func sample(phase: String, tally: SoakTally) {
        let cpu: Double? = if let start = cpuStart, let now = probe?.cpuMicroseconds() { Double(now &- start) / 1e6 } else { nil }
        let sample = Sample(
            seconds: Double(BenchClock.now() &- startNanos) / 1e9,
            phase: phase,
            rssKiB: probe?.residentKiB(),
            serverCPUSeconds: cpu,
            opened: tally.opened,
            live: tally.live,
            messages: tally.messages,
            left: tally.left.reduce(0, +),
            errors: tally.errorCount
        )
        samples.append(sample)
        let cells = Self.cells(sample)
        BenchLog.line("[soak] " + zip(Self.columns, cells).map { "\($0)=\($1)" }.joined(separator: " "))
    }

    /// The first soak sample at or after `seconds` (the last soak sample if none).
    func rss(at seconds: Double) -> UInt64? {
        let soak = samples.filter { $0.phase == "soak" }
        return (soak.first { $0.seconds >= seconds - 0.5 } ?? soak.last)?.rssKiB
    }

    /// The last sample of the soak window, before the drain.
    var endOfSoak: Sample? { samples.last { $0.phase == "soak" } }

    /// The samples as an aligned table.
    func table() -> String {
        let rows = [Self.columns] + samples.map(Self.cells)
        let widths = Self.columns.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { String(repeating: " ", count: widths[$0.offset] - $0.element.count) + $0.element }
                .joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    /// The samples as rows of a report.
    func rows() -> [BenchReport] {
        samples.map { sample in
            var row = BenchReport()
            row.add("t_s", sample.seconds, decimals: 1)
            row.add("phase", sample.phase)
            row.add("rss_kib", sample.rssKiB)
            row.add("server_cpu_s", sample.serverCPUSeconds, decimals: 2)
            row.add("opened", sample.opened)
            row.add("live", sample.live)
            row.add("messages", sample.messages)
            row.add("left", sample.left)
            row.add("errors", sample.errors)
            return row
        }
    }

    private static let columns = ["t_s", "phase", "rss_kib", "server_cpu_s", "opened", "live", "messages", "left", "errors"]

    private static func cells(_ sample: Sample) -> [String] {
        [
            String(Int(sample.seconds.rounded())),
            sample.phase,
            sample.rssKiB.map(String.init) ?? "-",
            sample.serverCPUSeconds.map { String(Double(Int($0 * 100)) / 100) } ?? "-",
            String(sample.opened),
            String(sample.live),
            String(sample.messages),
            String(sample.left),
            String(sample.errors),
        ]
    }
}
