import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import Parley
import ParleyClient
import Synchronization

/// `ReliableBench latency`: one online user; the server emits to it at a fixed rate, first
/// plain emits, then reliable ones (each committed before it goes out). The client
/// acknowledges each; the latency is from the emit call to the client's handler, where the
/// acknowledgement is sent.
struct LatencyBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "latency", abstract: "Emit-to-ack latency of reliable emits to an online user, next to plain emits.")

    @OptionGroup var options: StoreOptions
    @Option(help: "Emits per second.") var rate = 10_000.0
    @Option(help: "Seconds of each kind.") var duration = 5.0

    func run() async throws {
        let (store, directory) = try options.makeStore()
        defer { if let directory { try? FileManager.default.removeItem(at: directory) } }  // best effort: a temp dir
        let server = options.makeServer(store)
        let sockets = SocketBox()
        server.onConnection { socket in sockets.set(socket) }
        let address = try await server.start()
        guard let port = address.port else { throw ValidationError("the server has no port") }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var logger = Logger(label: "reliable-bench.latency")
        logger.logLevel = .critical
        var configuration = SocketClientConfiguration()
        configuration.transports = .webSocketOnly
        let manager = try SocketManager(url: "http://127.0.0.1:\(port)", configuration: configuration, eventLoopGroup: group, logger: logger)
        let client = manager.socket("/", auth: .value(["user": "online", "deviceId": "device"]))
        let latencies = Latencies()
        for name in ["plain", "reliable"] {
            client.on(name) { event in
                let sent = try event.argument(0, as: UInt64.self)
                try event.ack()
                latencies.add(name, DispatchTime.now().uptimeNanoseconds - sent)
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await manager.run() }
            while sockets.socket == nil { try await Task.sleep(for: .milliseconds(5)) }
            let socket = sockets.socket!
            let count = Int(rate * duration)
            try await paced(count: count) { try socket.emit("plain", DispatchTime.now().uptimeNanoseconds) }
            try await paced(count: count) {
                let user = server.user("online")
                Task { try await user.reliable.emit("reliable", DispatchTime.now().uptimeNanoseconds) }
            }
            let deadline = ContinuousClock.now.advanced(by: .seconds(30))
            while latencies.count("reliable") < count, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
            for name in ["plain", "reliable"] { report("latency \(name): \(latencies.summary(name)) at \(Int(rate))/s (\(options.inMemory ? "in memory" : "SQLite"))") }
            await manager.disconnect()
            try await tasks.waitForAll()
        }
        await server.shutdown()
        try await group.shutdownGracefully()
    }

    /// Calls `body` `count` times at ``rate`` per second, in 1 ms slices.
    private func paced(count: Int, _ body: () throws -> Void) async throws {
        let started = ContinuousClock.now
        var sent = 0
        while sent < count {
            let due = min(count, Int((ContinuousClock.now - started).seconds * rate) + 1)
            while sent < due {
                try body()
                sent += 1
            }
            try await Task.sleep(for: .milliseconds(1))
        }
    }
}

final class SocketBox: Sendable {
    private let value = Mutex<Socket?>(nil)
    var socket: Socket? { value.withLock { $0 } }
    func set(_ socket: Socket) { value.withLock { $0 = socket } }
}

/// Latencies by kind, in nanoseconds.
final class Latencies: Sendable {
    private let values = Mutex<[String: [UInt64]]>([:])

    func add(_ kind: String, _ nanoseconds: UInt64) { values.withLock { $0[kind, default: []].append(nanoseconds) } }

    func count(_ kind: String) -> Int { values.withLock { $0[kind]?.count ?? 0 } }

    func summary(_ kind: String) -> String {
        let sorted = values.withLock { $0[kind] ?? [] }.sorted()
        guard !sorted.isEmpty else { return "no samples" }
        func percentile(_ p: Double) -> String {
            String(format: "%.2f", Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1e6)
        }
        return "n=\(sorted.count) p50 \(percentile(0.5)) ms, p99 \(percentile(0.99)) ms, p99.9 \(percentile(0.999)) ms, max \(percentile(1)) ms"
    }
}
