import ArgumentParser

/// `parley bench polling`: emit-with-ack round trips over HTTP long-polling, closed loop.
struct PollingBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "polling",
        abstract: "Long-polling emit+ack round trips as fast as possible (closed loop), or open loop with --rate."
    )

    @OptionGroup var target: TargetOptions
    @OptionGroup var ramp: RampOptions
    @Option(help: "Concurrent long-polling clients (two HTTP connections each).") var clients: Int = 50
    @Option(help: "Total emits per second; 0 = closed loop.") var rate: Double = 0
    @Option(help: "Seconds of measured load.") var duration: Double = 10
    @Option(name: .customLong("payload-bytes"), help: "Characters of the echoed string argument.") var payloadBytes: Int = 32
    @Option(help: "Seconds to wait for outstanding acks after the window.") var drain: Double = 5

    func validate() throws {
        try EchoRun.validate(clients: clients, rate: rate, duration: duration, payloadBytes: payloadBytes)
    }

    func run() async throws {
        try await EchoRun(scenario: "polling", target: target, ramp: ramp, transport: .polling, clients: clients, rate: rate,
                          duration: duration, payloadBytes: payloadBytes, drain: drain).run()
    }
}
