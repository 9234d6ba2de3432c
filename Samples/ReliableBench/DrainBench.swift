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
    @Flag(help: "Run the clients in a child process, and report the server process's CPU time per message.") var separateClients = false

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

        if separateClients {
            try await drainFromChildProcess(server: server, port: port, total: total)
            await server.shutdown()
            return
        }
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

extension DrainBench {
    /// The drain with the clients in a child process (`drain-clients`): this process is then
    /// only the server, and its CPU time over the drain is the server's cost.
    private func drainFromChildProcess(server: SocketServer, port: Int, total: Int) async throws {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        child.arguments = ["drain-clients", "--port", String(port), "--devices", String(devices), "--expect", String(total), "--threads", String(threads)]
        let cpuBefore = ProcessCPU.seconds()
        let started = ContinuousClock.now
        try child.run()
        // Blocking wait off the cooperative pool.
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                child.waitUntilExit()
                continuation.resume()
            }
        }
        let delivered = ContinuousClock.now - started
        var emptied = delivered
        for _ in 0..<5_000 {
            if try await server.user("user-\(devices - 1)").queueState().messages == 0 { emptied = ContinuousClock.now - started; break }
            try await Task.sleep(for: .milliseconds(2))
        }
        let cpu = ProcessCPU.seconds() - cpuBefore
        report(String(format: "drain (clients in a child process): %d devices x %d pending (window %d, %@): %d messages received and acknowledged in %.2f s = %.0f messages/s; last queue empty after %.2f s; server process CPU %.2f s = %.1f µs per message (%.0f messages per server CPU second); child exit %d",
                      devices, pending, window, options.inMemory ? "in memory" : "SQLite", total, delivered.seconds, Double(total) / delivered.seconds,
                      emptied.seconds, cpu, cpu * 1e6 / Double(total), Double(total) / cpu, child.terminationStatus))
    }
}

/// `ReliableBench drain-clients`: the clients of `drain --separate-clients`.
struct DrainClients: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "drain-clients", abstract: "The clients of `drain --separate-clients` (started by it).")

    @Option var port: Int
    @Option var devices: Int
    @Option var expect: Int
    @Option var threads = 1

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        var logger = Logger(label: "reliable-bench.drain-clients")
        logger.logLevel = .critical
        var configuration = SocketClientConfiguration()
        configuration.transports = .webSocketOnly
        let received = Atomic<Int>(0)
        let managers = try (0..<devices).map { index in
            let manager = try SocketManager(url: "http://127.0.0.1:\(port)", configuration: configuration, eventLoopGroup: group, logger: logger)
            let socket = manager.socket("/", auth: .value(["user": "user-\(index)", "deviceId": "device"]))
            socket.on("msg") { event in
                try event.ack()
                received.wrappingAdd(1, ordering: .relaxed)
            }
            return manager
        }
        let deadline = ContinuousClock.now.advanced(by: .seconds(120))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for manager in managers { tasks.addTask { try await manager.run() } }
            while received.load(ordering: .relaxed) < expect, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(2)) }
            for manager in managers { await manager.disconnect() }
            try await tasks.waitForAll()
        }
        try await group.shutdownGracefully()
    }
}

/// CPU time of this process (user and system, every thread).
enum ProcessCPU {
    static func seconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}
