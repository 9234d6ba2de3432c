import ArgumentParser

/// `parley bench codec`: micro-benchmarks of the wire codecs, in process, no server.
struct CodecBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codec",
        abstract: "Micro-benchmark decode and encode of typical Engine.IO and Socket.IO packets (no server).",
        discussion: """
            Each case warms up, then runs --repetitions timed batches sized to share \
            --time-per-case; the table gives the median and the minimum nanoseconds per operation.
            """
    )

    @Option(name: .customLong("time-per-case"), help: "Seconds of measurement per case, shared by the repetitions.")
    var timePerCase: Double = 0.5
    @Option(help: "Measurements per case; the median and the minimum are reported.") var repetitions: Int = 5
    @Option(help: "Run only the cases whose name contains this text.") var filter: String?

    func validate() throws {
        guard timePerCase > 0 else { throw ValidationError("--time-per-case must be positive") }
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1") }
    }

    func run() throws {
        let cases = try CodecCases.all().filter { codecCase in filter.map { codecCase.name.contains($0) } ?? true }
        guard !cases.isEmpty else { throw BenchError("no case name contains \"\(filter ?? "")\"") }
        BenchLog.line("[codec] \(cases.count) cases, \(repetitions) × \(timePerCase / Double(repetitions)) s each")
        var checksum = 0
        var measurements: [CodecCase.Measurement] = []
        for codecCase in cases {
            let measurement = try codecCase.measure(
                repetitions: repetitions,
                nanosecondsPerMeasurement: timePerCase / Double(repetitions) * 1e9,
                checksum: &checksum
            )
            BenchLog.line("[codec] \(codecCase.name): \(Self.fixed(measurement.median, decimals: 1)) ns/op")
            measurements.append(measurement)
        }

        var figures = BenchReport()
        for measurement in measurements {
            var group = BenchReport()
            group.add("bytes", measurement.codecCase.bytes)
            group.add("iterations", measurement.iterations)
            group.add("median_ns_per_op", measurement.median)
            group.add("min_ns_per_op", measurement.minimum)
            group.add("ops_per_s", Int64(measurement.operationsPerSecond.rounded()))
            group.add("mb_per_s", measurement.megabytesPerSecond, decimals: 1)
            figures.add(measurement.codecCase.name, group)
        }
        var report = BenchReport(scenario: "codec")
        report.add("time_per_case_s", timePerCase, decimals: 3)
        report.add("repetitions", repetitions)
        report.add("filter", filter.map(BenchReport.Value.text) ?? .none)
        report.add("cases", figures)
        report.add("checksum", checksum)
        BenchLog.write(Self.table(measurements) + report.jsonLine() + "\n", to: 1)
    }

    /// The human table: one row per case, numbers right-aligned.
    private static func table(_ measurements: [CodecCase.Measurement]) -> String {
        var rows = [["case", "bytes", "ns/op median", "ns/op min", "ops/s", "MB/s"]]
        for measurement in measurements {
            rows.append([
                measurement.codecCase.name,
                measurement.codecCase.bytes.map(String.init) ?? "-",
                fixed(measurement.median, decimals: 1),
                fixed(measurement.minimum, decimals: 1),
                fixed(measurement.operationsPerSecond, decimals: 0),
                measurement.megabytesPerSecond.map { fixed($0, decimals: 1) } ?? "-",
            ])
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.indices.map { column in
                let padding = String(repeating: " ", count: widths[column] - row[column].count)
                return column == 0 ? row[column] + padding : padding + row[column]
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    /// `value` with exactly `decimals` digits after the point (no Foundation formatting here).
    private static func fixed(_ value: Double, decimals: Int) -> String {
        var scale: Int64 = 1
        for _ in 0..<decimals { scale *= 10 }
        let scaled = Int64((value * Double(scale)).rounded())
        guard decimals > 0 else { return String(scaled) }
        let fraction = String(scaled % scale)
        return "\(scaled / scale)." + String(repeating: "0", count: decimals - fraction.count) + fraction
    }
}
