import ArgumentParser

/// `parley`: Parley's command-line tools.
@main
struct ParleyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley",
        abstract: "Parley command-line tools.",
        subcommands: [BenchCommand.self]
    )
}

/// `parley bench <scenario>`: a load generator that speaks Engine.IO v4 / Socket.IO v5 itself.
///
/// The server under test implements the BenchServer contract on namespace `/`: `echo` with an
/// ack id is acked with the same arguments; `join` with an ack id and a room name joins that
/// room and acks the name; `broadcast(room, payload)` emits `msg(payload)` to every
/// socket in the room. Figures that survive a noisy machine come from the server's own CPU
/// time (`--server-pid`), read from /proc before and after the measured window.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Load-test a Socket.IO server that implements the BenchServer contract.",
        discussion: """
            Output: a table on stdout, then one JSON line with every figure; progress on stderr.
            Pin the server and the load generator to different cores (taskset) for stable figures.
            `codec` needs no server: it times the wire codecs in process.
            """,
        subcommands: [ConnectBench.self, EchoBench.self, FanoutBench.self, PollingBench.self, SoakBench.self, CodecBench.self]
    )
}
