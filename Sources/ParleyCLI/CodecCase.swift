/// One micro-benchmark of `parley bench codec`: an operation of a wire codec on a fixed input.
struct CodecCase {
    /// The dotted name, e.g. `socket.event.decode`; `--filter` matches it.
    let name: String
    /// The wire bytes one operation reads or writes; `nil` where a byte rate means nothing.
    let bytes: Int?
    /// Runs the operation `iterations` times and returns the sum of the results' checksums.
    private let batch: (_ iterations: Int) throws -> Int

    /// A case that runs `operation`, which returns a checksum of what it produced.
    ///
    /// The checksums are summed and printed with the report, so the optimizer cannot drop the
    /// work as unused.
    init(_ name: String, bytes: Int?, _ operation: @escaping () throws -> Int) {
        self.name = name
        self.bytes = bytes
        batch = { iterations in
            var checksum = 0
            for _ in 0..<iterations { checksum &+= try operation() }
            return checksum
        }
    }

    /// The figures of one case: nanoseconds per operation of each measurement.
    struct Measurement {
        let codecCase: CodecCase
        /// Operations per measurement, chosen so that one takes about the time asked for.
        let iterations: Int
        /// Nanoseconds per operation, one sample per measurement, in ascending order.
        let samples: [Double]

        var median: Double {
            let middle = samples.count / 2
            return samples.count % 2 == 1 ? samples[middle] : (samples[middle - 1] + samples[middle]) / 2
        }

        var minimum: Double { samples[0] }

        var operationsPerSecond: Double { 1e9 / median }

        /// Megabytes (10^6 bytes) per second at the median, for cases with a byte count.
        var megabytesPerSecond: Double? { codecCase.bytes.map { Double($0) * operationsPerSecond / 1e6 } }
    }

    /// Warms up, then takes `repetitions` measurements of about `nanosecondsPerMeasurement` each.
    ///
    /// The warm-up doubles the batch until one takes a quarter of a measurement; its pace sets
    /// the iteration count. The checksums of every batch are added to `checksum`.
    func measure(repetitions: Int, nanosecondsPerMeasurement: Double, checksum: inout Int) throws -> Measurement {
        var iterations = 1
        while true {
            let elapsed = try time(iterations, checksum: &checksum)
            if elapsed >= nanosecondsPerMeasurement / 4 {
                iterations = max(1, Int(nanosecondsPerMeasurement / (elapsed / Double(iterations))))
                break
            }
            // A loop the optimizer folded away would otherwise double forever.
            guard iterations < 1 << 40 else { throw BenchError("\(name) takes no measurable time: the optimizer removed the work") }
            iterations *= 2
        }
        var samples: [Double] = []
        for _ in 0..<repetitions {
            samples.append(try time(iterations, checksum: &checksum) / Double(iterations))
        }
        return Measurement(codecCase: self, iterations: iterations, samples: samples.sorted())
    }

    /// Nanoseconds that `iterations` operations take.
    private func time(_ iterations: Int, checksum: inout Int) throws -> Double {
        let start = BenchClock.now()
        checksum &+= try batch(iterations)
        return Double(BenchClock.now() - start)
    }
}
