import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import ParleyClient
import ParleyProtocol
import Synchronization

/// `RecoveryBench storm`: thousands of clients in rooms, a publisher, and the server SIGKILLed
/// and started again on the same port and SQLite file. How fast do the clients come back
/// recovered, and does any of them miss a message?
struct StormBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storm",
        abstract: "Restart storm: kill the BenchServer under load, start it again, time the recoveries and check for gaps."
    )

    @Option(help: "The BenchServer executable.") var server = ".build/release/BenchServer"
    @Option(help: "Core to pin the server to with taskset; -1 to leave it unpinned.") var serverCore = 0
    @Option(help: "Subscribers, each with its own connection.") var clients = 5_000
    @Option(help: "Rooms; subscriber i joins room i % rooms.") var rooms = 500
    @Option(help: "Publishes per second, round-robin over the rooms.") var rate = 500.0
    @Option(help: "Publishes awaiting their acks at most (the server allows 256 handlers in flight per connection).") var maxInFlight = 128
    @Option(help: "Subscribers connected per second at the start.") var connectRate = 1_000.0
    @Option(help: "Seconds of publishing before the kill.") var before = 3.0
    @Option(help: "Seconds of publishing after the restart.") var after = 5.0
    @Option(help: "Seconds the clients may take to come back before the run gives up on them.") var recoveryLimit = 60.0
    @Option(help: "Event-loop threads of the clients (this process).") var threads = 1
    @Option(help: "First reconnection delay, milliseconds.") var backoffInitial = 300
    @Option(help: "Longest reconnection delay, milliseconds.") var backoffMaximum = 2_000

    func run() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-storm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }  // best effort: a temp dir
        let store = directory.appendingPathComponent("recovery.sqlite").path
        let core = serverCore >= 0 ? serverCore : nil
        var (process, port) = try await ServerProcess.start(executable: server, arguments: ["--port", "0", "--recovery-store", store], core: core)
        let serverArguments = ["--port", String(port), "--recovery-store", store]
        log("server pid \(process.pid) on port \(port), store \(store)")

        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        var logger = Logger(label: "recovery-bench.storm")
        logger.logLevel = .critical
        var configuration = SocketClientConfiguration()
        configuration.transports = .webSocketOnly
        configuration.backoff = ReconnectBackoff(initial: .milliseconds(backoffInitial), maximum: .milliseconds(backoffMaximum), randomization: 0.5)
        let url = "http://127.0.0.1:\(port)"
        let roomNames = (0..<rooms).map { "room-\($0)" }
        let killedBox = Flag()

        let subscribers = try (0..<clients).map { index in
            StormClient(room: roomNames[index % rooms], manager: try SocketManager(url: url, configuration: configuration, eventLoopGroup: group, logger: logger))
        }
        var publisherConfiguration = configuration
        publisherConfiguration.backoff = ReconnectBackoff(initial: .milliseconds(100), maximum: .milliseconds(500), randomization: 0.5)
        publisherConfiguration.maxBufferedEmits = 1_000_000
        let publisherManager = try SocketManager(url: url, configuration: publisherConfiguration, eventLoopGroup: group, logger: logger)
        let publisher = StormPublisher(socket: publisherManager.socket(), rooms: roomNames)
        let (rejoins, rejoinSink) = AsyncStream.makeStream(of: StormClient.self)
        let attempts = Counter()
        for subscriber in subscribers {
            subscriber.manager.onReconnectAttempt { _ in attempts.increment() }
            subscriber.listen(killed: { killedBox.isSet }) { client, recovered in
                // A client the server did not recover has a fresh socket outside its room.
                if !recovered, killedBox.isSet { rejoinSink.yield(client) }
            }
        }

        try await withThrowingDiscardingTaskGroup { tasks in
            tasks.addTask { try await publisherManager.run() }
            tasks.addTask {
                await withDiscardingTaskGroup { joins in
                    for await client in rejoins { joins.addTask { await client.join() } }
                }
            }
            // Connect and join.
            let rampStart = ContinuousClock.now
            for (index, subscriber) in subscribers.enumerated() {
                try await Task.sleep(until: rampStart + .seconds(Double(index) / connectRate))
                tasks.addTask { try await subscriber.manager.run() }
                tasks.addTask { await subscriber.join() }
            }
            let joinedAll = await waitUntil(timeout: .seconds(120)) { subscribers.allSatisfy { $0.tally.joined } }
            let joined = subscribers.count { $0.tally.joined }
            log("\(joined) of \(clients) joined in \(format(ContinuousClock.now - rampStart))")
            guard joinedAll else { throw BenchFailure("only \(joined) of \(clients) subscribers joined") }

            // Publish, kill, start again, publish.
            let stop = Flag()
            let publishStart = ContinuousClock.now
            tasks.addTask { await publisher.run(rate: rate, maxInFlight: maxInFlight) { stop.isSet } }
            try await Task.sleep(for: .seconds(before))
            let killAt = ContinuousClock.now
            log("killing the server after \(format(killAt - publishStart)) of publishing: \(publisher.counts)")
            let publishedBeforeKill = publisher.counts.started
            killedBox.set()
            process.kill()
            let restartAt = ContinuousClock.now
            process = try await Self.startAgain(executable: server, arguments: serverArguments, core: core)
            let listeningAt = ContinuousClock.now
            log("killed; started again in \(format(restartAt - killAt)) + listening after \(format(listeningAt - restartAt)); pid \(process.pid)")
            let stopAt = restartAt + .seconds(after)
            let publishedAfterRestart = Counter()
            tasks.addTask {
                try? await Task.sleep(until: stopAt)  // cancelled: stop now
                stop.set()
                publishedAfterRestart.add(publisher.counts.started - publishedBeforeKill)
            }
            let cpuAtRestart = (server: CPUTime.of(pid: process.pid), generator: CPUTime.ofSelf())

            let allBack = await waitUntil(timeout: .seconds(recoveryLimit)) {
                subscribers.allSatisfy { $0.tally.recoveredAt != nil || $0.tally.freshReconnects > 0 }
            }
            let recoveredTimes = subscribers.compactMap(\.tally.recoveredAt).map { $0 - restartAt }.sorted()
            let recoveryWindow = ContinuousClock.now - restartAt
            let serverCPU = CPUTime.of(pid: process.pid) - cpuAtRestart.server
            let generatorCPU = CPUTime.ofSelf() - cpuAtRestart.generator
            log("\(recoveredTimes.count) recovered, \(subscribers.count { $0.tally.freshReconnects > 0 }) fresh, after \(format(recoveryWindow))")
            if ContinuousClock.now < stopAt { try await Task.sleep(until: stopAt) }
            // Every publish acknowledged, then the deliveries settle.
            let acknowledged = await waitUntil(timeout: .seconds(60)) { publisher.counts.acknowledged == publisher.counts.started }
            log("publishing stopped; every publish acknowledged: \(acknowledged) (\(publisher.counts))")
            let settled = await waitUntil(timeout: .seconds(20)) {
                subscribers.enumerated().allSatisfy { index, subscriber in
                    subscriber.hasAll(upTo: publisher.lastSequence(ofRoom: index % rooms))
                }
            }

            var report = StormReport(clients: clients, rooms: rooms, rate: rate)
            report.allBack = allBack
            report.settled = settled
            report.recoveredTimes = recoveredTimes
            report.listening = listeningAt - restartAt
            report.publisher = publisher.counts
            report.published = (before: publishedBeforeKill, beforeSeconds: (killAt - publishStart).inMilliseconds / 1_000, afterRestart: publishedAfterRestart.count, afterSeconds: after)
            report.recoveryCPU = (recoveryWindow.inMilliseconds / 1_000, serverCPU, generatorCPU)
            report.reconnectAttempts = attempts.count
            for (index, subscriber) in subscribers.enumerated() {
                report.add(subscriber.tally, last: publisher.lastSequence(ofRoom: index % rooms))
            }
            report.print()

            rejoinSink.finish()
            await withDiscardingTaskGroup { closing in
                for subscriber in subscribers { closing.addTask { await subscriber.manager.disconnect() } }
                closing.addTask { await publisherManager.disconnect() }
            }
            await process.terminate()
            tasks.cancelAll()
        }
        try await group.shutdownGracefully()
    }

    /// Starts the server again on its port, retrying while the port is still taken.
    static func startAgain(executable: String, arguments: [String], core: Int?) async throws -> ServerProcess {
        var lastError: any Error = BenchFailure("no attempt")
        for _ in 0..<50 {
            do {
                return try await ServerProcess.start(executable: executable, arguments: arguments, core: core).server
            } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        throw lastError
    }
}

/// A one-way switch, readable from any thread.
final class Flag: Sendable {
    private let value = Atomic(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}

/// A count touched from any thread.
final class Counter: Sendable {
    private let value = Atomic(0)
    var count: Int { value.load(ordering: .relaxed) }
    func increment() { add(1) }
    func add(_ amount: Int) { value.add(amount, ordering: .relaxed) }
}

/// CPU time (user + system) of a process, from /proc/<pid>/stat, in seconds.
enum CPUTime {
    static func of(pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let end = stat.lastIndex(of: ")")
        else { return 0 }
        // After the command name: state is field 3, utime 14 and stime 15.
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func ofSelf() -> Double { of(pid: getpid()) }
}

/// Waits until `condition` holds (checked every 10 ms) or `timeout` passes; whether it held.
func waitUntil(timeout: Duration, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { return false }
        try? await Task.sleep(for: .milliseconds(10))  // cancelled: the next check decides
    }
    return true
}

func format(_ duration: Duration) -> String {
    String(format: "%.2f s", duration.inMilliseconds / 1_000)
}

func log(_ line: String) {
    FileHandle.standardError.write(Data("[storm] \(line)\n".utf8))
}
