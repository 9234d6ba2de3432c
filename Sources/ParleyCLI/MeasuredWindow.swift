import NIOCore
import NIOPosix
import Synchronization

/// Wall time, server CPU time and the load generator's own CPU time across a measured window.
struct MeasuredWindow {
    struct Figures {
        var wallNanos: UInt64
        /// `nil` without `--server-pid`, or if /proc could not be read.
        var serverCPUMicros: UInt64?
        var clientCPUMicros: UInt64
    }

    let probe: ProcessProbe?
    let startNanos: UInt64
    private let serverCPUStart: UInt64?
    private let clientCPUStart: UInt64

    init(serverPID: Int32?) {
        probe = serverPID.map(ProcessProbe.init(pid:))
        serverCPUStart = probe?.cpuMicroseconds()
        clientCPUStart = ProcessProbe.ownCPUMicroseconds()
        startNanos = BenchClock.now()
    }

    func finish() -> Figures {
        let end = BenchClock.now()
        let serverCPU: UInt64? =
            if let start = serverCPUStart, let now = probe?.cpuMicroseconds() { now &- start } else { nil }
        return Figures(
            wallNanos: end - startNanos,
            serverCPUMicros: serverCPU,
            clientCPUMicros: ProcessProbe.ownCPUMicroseconds() &- clientCPUStart
        )
    }
}

extension BenchReport {
    /// Server CPU per message (`unit` names what a message is), and both processes' CPU load.
    mutating func addCPU(_ figures: MeasuredWindow.Figures, messages: UInt64, unit: String) {
        let wallMicros = Double(figures.wallNanos) / 1000
        add("message_unit", unit)
        add("window_s", Double(figures.wallNanos) / 1e9, decimals: 3)
        add("server_cpu_us", figures.serverCPUMicros)
        add("server_cpu_us_per_message", figures.serverCPUMicros.flatMap { messages > 0 ? Double($0) / Double(messages) : nil }, decimals: 3)
        add("server_cpu_percent", figures.serverCPUMicros.map { Double($0) / wallMicros * 100 }, decimals: 1)
        add("client_cpu_percent", Double(figures.clientCPUMicros) / wallMicros * 100, decimals: 1)
    }
}
