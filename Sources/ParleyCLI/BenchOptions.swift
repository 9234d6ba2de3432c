import ArgumentParser
import NIOCore

/// Options every scenario shares: where the server is and how to reach it.
struct TargetOptions: ParsableArguments {
    @Option(help: "Server URL, e.g. http://127.0.0.1:3000 (the path defaults to /socket.io/).")
    var url: String

    @Option(name: .customLong("server-pid"), help: "Server process id: report its CPU time per message (and RSS) from /proc.")
    var serverPID: Int32?

    @Option(help: "Event-loop threads of the load generator.")
    var threads: Int = 1

    @Option(
        name: .customLong("source-addresses"),
        help: "Comma-separated loopback source addresses (127.0.0.1,127.0.0.2,...) to spread client connections over."
    )
    var sourceAddresses: String?

    @Option(name: .customLong("connect-timeout"), help: "Seconds a client may take to connect (and join) before it counts as failed.")
    var connectTimeout: Double = 15

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard connectTimeout > 0 else { throw ValidationError("--connect-timeout must be positive") }
    }

    /// The resolved target for `transport`.
    func target(transport: BenchTransport) throws -> BenchTarget {
        try BenchTarget(url: url, transport: transport, sourceAddresses: sourceAddresses, connectTimeout: connectTimeout)
    }
}

/// How fast the clients of a message scenario are opened before the measured window.
struct RampOptions: ParsableArguments {
    @Option(name: .customLong("connect-rate"), help: "Client connections opened per second before the measured window.")
    var connectRate: Double = 2000

    func validate() throws {
        guard connectRate > 0 else { throw ValidationError("--connect-rate must be positive") }
    }
}
