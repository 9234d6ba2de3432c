import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import ParleyClient
import ParleyProtocol
import ParleySQLite
import Synchronization

/// `ReliableChaos client`: queues `count` numbered messages for its peers in its durable outbox
/// (once: a restarted client finds them there), and appends every message it receives to a
/// file, one line `<from> <seq> <id>` each.
struct ChaosClient: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "client", abstract: "A client: a durable outbox to its peers, what it receives written down.")

    @Option(help: "The server (or a proxy in front of it).") var url: String
    @Option(help: "This client's user id.") var user: String
    @Option(help: "The users it sends to, comma-separated; message i goes to peer i % count.") var peers: String
    @Option(help: "Messages to send in all.") var count = 300
    @Option(help: "The client's SQLite store (outbox, ids seen).") var store: String
    @Option(help: "The file received messages are appended to.") var received: String

    struct Send: Encodable, Sendable {
        var to: String
        var seq: Int
    }

    struct Forwarded: Decodable {
        var from: String
        var seq: Int
    }

    func run() async throws {
        var logger = Logger(label: "chaos.client")
        logger.logLevel = .error
        var configuration = SocketClientConfiguration()
        configuration.reliable = ClientReliability(store: SQLiteClientReliableStore(path: store))
        configuration.backoff = ReconnectBackoff(initial: .milliseconds(100), maximum: .seconds(1), randomization: 0.5)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let manager = try SocketManager(url: url, configuration: configuration, eventLoopGroup: group, logger: logger)
        let socket = manager.socket("/", auth: .value(["user": user]))
        let output = try ReceivedFile(path: received)
        socket.on("msg") { event in
            let message = try event.argument(0, as: Forwarded.self)
            try output.append("\(message.from) \(message.seq) \(event.reliableID ?? "-")\n")
        }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await manager.run() }
            let marker = received + ".queued"
            if !FileManager.default.fileExists(atPath: marker) {
                let targets = peers.split(separator: ",").map(String.init)
                for index in 0..<count {
                    _ = try await socket.emitReliable("send", Send(to: targets[index % targets.count], seq: index / targets.count))
                }
                FileManager.default.createFile(atPath: marker, contents: Data())
            }
            announce(["event": "queued", "user": user])
            while true {
                try await Task.sleep(for: .milliseconds(200))
                announce(["event": "status", "user": user, "outbox": try await socket.outboxDepth(), "received": output.lines, "repeatsDropped": socket.repeatsDropped])
            }
        }
    }
}

/// An append-only file written with `write(2)` per line: a line is in the file (the page
/// cache) as soon as the call returns, even if the process is killed right after.
final class ReceivedFile: Sendable {
    private let descriptor: Int32
    private let count = Atomic<Int>(0)

    init(path: String) throws {
        descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw ValidationError("cannot open \(path)") }
    }

    var lines: Int { count.load(ordering: .relaxed) }

    func append(_ line: String) throws {
        let bytes = Array(line.utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw ValidationError("short write") }
        count.wrappingAdd(1, ordering: .relaxed)
    }
}
