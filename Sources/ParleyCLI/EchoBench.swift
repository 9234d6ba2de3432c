import ArgumentParser
import NIOCore

/// `parley bench echo`: emit-with-ack round trips over WebSocket (or polling).
struct EchoBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo",
        abstract: "Echo with ack: open loop at a fixed total rate (latency from the scheduled send), or closed loop (--rate 0)."
    )

    @OptionGroup var target: TargetOptions
    @OptionGroup var ramp: RampOptions
    @Option(help: "Transport: websocket, polling, or upgrade (polling, then the probe upgrade to WebSocket).") var transport: BenchTransport = .websocket
    @Option(help: "Concurrent clients.") var clients: Int = 50
    @Option(help: "Total emits per second over all clients; 0 = closed loop (each client emits again on its ack).")
    var rate: Double = 10000
    @Option(help: "Seconds of measured load.") var duration: Double = 10
    @Option(name: .customLong("payload-bytes"), help: "Characters of the echoed string argument.") var payloadBytes: Int = 32
    @Option(help: "Seconds to wait for outstanding acks after the window.") var drain: Double = 5

    func validate() throws {
        try EchoRun.validate(clients: clients, rate: rate, duration: duration, payloadBytes: payloadBytes)
    }

    func run() async throws {
        try await EchoRun(scenario: "echo", target: target, ramp: ramp, transport: transport, clients: clients, rate: rate,
                          duration: duration, payloadBytes: payloadBytes, drain: drain).run()
    }
}
