#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Histogram

/// The figures of one run, in insertion order: printed as a two-column table on stdout, then
/// as one JSON object on one line (the last line of stdout) for scripts.
struct BenchReport {
    enum Value {
        case integer(Int64)
        case number(Double)
        case text(String)
        /// A nested group of figures: a JSON object in the JSON line.
        case group(BenchReport)
        /// Rows of figures (e.g. a time series): a JSON array of objects in the JSON line, a count
        /// in the table (print the rows yourself).
        case list([BenchReport])
        case none
    }

    private var entries: [(key: String, value: Value)] = []

    init(scenario: String) {
        add("scenario", scenario)
    }

    /// An empty group of figures, to nest in a report with `add(_:_:)`.
    init() {}

    mutating func add(_ key: String, _ value: Value) { entries.append((key, value)) }
    mutating func add(_ key: String, _ value: String) { add(key, .text(value)) }
    mutating func add(_ key: String, _ group: BenchReport) { add(key, .group(group)) }
    mutating func add(_ key: String, _ value: some BinaryInteger) { add(key, .integer(Int64(value))) }
    mutating func add(_ key: String, _ value: Double?, decimals: Int = 2) {
        guard let value, value.isFinite else { return add(key, .none) }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        add(key, .number((value * scale).rounded() / scale))
    }
    mutating func add(_ key: String, _ value: (some BinaryInteger)?) {
        add(key, value.map { .integer(Int64($0)) } ?? .none)
    }

    /// `latency_p50_us` ... `latency_max_us` from `histogram` (microseconds).
    mutating func addLatency(_ histogram: Histogram<UInt64>, prefix: String = "latency") {
        add("\(prefix)_samples", histogram.totalCount)
        let empty = histogram.totalCount == 0
        for (name, percentile) in [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9)] {
            add("\(prefix)_\(name)_us", empty ? nil : histogram.valueAtPercentile(percentile))
        }
        add("\(prefix)_max_us", empty ? nil : histogram.max)
        add("\(prefix)_mean_us", empty ? nil : histogram.mean, decimals: 1)
    }

    /// Prints the table, then the JSON line, to stdout.
    func emit() {
        let width = entries.map(\.key.count).max() ?? 0
        var out = ""
        for (key, value) in entries {
            out += key + String(repeating: " ", count: width - key.count + 2) + Self.text(value) + "\n"
        }
        out += jsonLine() + "\n"
        BenchLog.write(out, to: 1)
    }

    func jsonLine() -> String {
        "{" + entries.map { "\(Self.json(string: $0.key)):\(Self.json($0.value))" }.joined(separator: ",") + "}"
    }

    private static func text(_ value: Value) -> String {
        switch value {
        case .integer(let integer): String(integer)
        case .number(let number): String(number)
        case .text(let text): text
        case .group(let group): group.jsonLine()
        case .list(let rows): "\(rows.count) rows"
        case .none: "-"
        }
    }

    private static func json(_ value: Value) -> String {
        switch value {
        case .integer(let integer): String(integer)
        case .number(let number): String(number)
        case .text(let text): json(string: text)
        case .group(let group): group.jsonLine()
        case .list(let rows): "[" + rows.map { $0.jsonLine() }.joined(separator: ",") + "]"
        case .none: "null"
        }
    }

    /// `string` as a JSON string literal.
    static func jsonString(_ string: String) -> String { json(string: string) }

    private static func json(string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
