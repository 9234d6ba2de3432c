import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import Parley
import ParleyClient
import Synchronization

/// `ReliableBench drain`: many devices, each with messages pending in its user's queue,
/// connect at once; each acknowledges what it receives. How many messages per second go out
/// and come back acknowledged?
struct DrainBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "drain", abstract: "Drain on reconnect: devices with pending messages connect and acknowledge them.")

    @OptionGroup var options: StoreOptions
    @Option(help: "Devices, one user each, each its own connection.") var devices = 1_000
    @Option(help: "Messages pending per device.") var pending = 100
    @Option(help: "Delivery window per socket.") var window = 64
    @Option(help: "Client event-loop threads.") var threads = 1

    func run() async throws {
        let (store, directory) = try options.makeStore()
        defer { if let directory { try? FileManager.default.removeItem(at: directory) } }  // best effort: a temp dir
        let server = options.makeServer(store) { $0.deliveryWindow = window }
        let address = try await server.start()
        guard let port = address.port else { throw ValidationError("the server has no port") }
        let url = "http://127.0.0.1:\(port)"

        // Queue the messages while nobody is connected.
        let next = Counter()
        let total = devices * pending
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<256 {
                group.addTask {
                    while true {
                        let index = next.take()
                        guard index < total else { return }
                        try await server.user("user-\(index % devices)").reliable.emit("msg", index / devices)
                    }
                }
            }
            try await group.waitForAll()
        }
        report("queued \(total) messages for \(devices) users")

        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        var logger = Logger(label: "reliable-bench.drain")
        logger.logLevel = .critical
        var configuration = SocketClientConfiguration()
        configuration.transports = .webSocketOnly
        let received = Atomic<Int>(0)
        let connected = Atomic<Int>(0)
        let started = ContinuousClock.now
        let done = ContinuousClock.now.advanced(by: .seconds(120))
        var managers: [SocketManager] = []
        for index in 0..<devices {
            let manager = try SocketManager(url: url, configuration: configuration, eventLoopGroup: group, logger: logger)
            let socket = manager.socket("/", auth: .value(["user": "user-\(index)", "deviceId": "device"]))
            socket.onConnect { connected.wrappingAdd(1, ordering: .relaxed) }
            socket.on("msg") { event in
                try event.ack()
                received.wrappingAdd(1, ordering: .relaxed)
            }
            managers.append(manager)
        }
        let (allConnected, delivered, emptied) = try await withThrowingTaskGroup(of: Void.self) { tasks -> (Duration?, Duration, Duration) in
            for manager in managers { tasks.addTask { try await manager.run() } }
            var allConnected: Duration?
            while received.load(ordering: .relaxed) < total, ContinuousClock.now < done {
                if allConnected == nil, connected.load(ordering: .relaxed) == devices { allConnected = ContinuousClock.now - started }
                try await Task.sleep(for: .milliseconds(2))
            }
            let delivered = ContinuousClock.now - started
            // Acknowledged: a queue is empty once its device's position is committed.
            var emptied = delivered
            for _ in 0..<5_000 {
                let left = try await server.user("user-\(devices - 1)").queueState().messages
                if left == 0 { emptied = ContinuousClock.now - started; break }
                try await Task.sleep(for: .milliseconds(2))
            }
            for manager in managers { await manager.disconnect() }
            try await tasks.waitForAll()
            return (allConnected, delivered, emptied)
        }
        let count = received.load(ordering: .relaxed)
        report(String(format: "drain: %d devices x %d pending (window %d, %@): all connected after %.2f s; %d messages received and acknowledged in %.2f s = %.0f messages/s; last queue empty after %.2f s",
                      devices, pending, window, options.inMemory ? "in memory" : "SQLite", allConnected?.seconds ?? .nan, count, delivered.seconds,
                      Double(count) / delivered.seconds, emptied.seconds))
        await server.shutdown()
        try await group.shutdownGracefully()
    }
}
