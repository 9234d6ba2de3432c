import ArgumentParser
import Foundation

/// Measurements of connection state recovery (`Protocol/recovery.md`) that the side-by-side
/// table of `compare.py --recovery` cannot take: how long one client's replay takes, and how a
/// whole fleet of clients comes back after the server was killed and started again.
/// How to run them, and the figures measured: `Samples/BenchServer/README.md` § Recovery.
@main
struct RecoveryBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Connection state recovery: replay time and the restart storm.",
        subcommands: [ReplayBench.self, StormBench.self]
    )
}

/// Minimum, median and maximum of a few samples, for one line of output.
struct Spread {
    let samples: [Double]

    var summary: String {
        let sorted = samples.sorted()
        guard let first = sorted.first, let last = sorted.last else { return "no samples" }
        let median = sorted.count % 2 == 1
            ? sorted[sorted.count / 2]
            : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        return "min \(Self.format(first)) / median \(Self.format(median)) / max \(Self.format(last)) ms (n=\(sorted.count))"
    }

    static func format(_ milliseconds: Double) -> String {
        String(format: "%.1f", milliseconds)
    }
}

extension Duration {
    /// The duration in milliseconds, with fractions.
    var inMilliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1_000 + Double(attoseconds) / 1e15
    }
}
