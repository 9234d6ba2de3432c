import ArgumentParser
import Foundation
import Logging
import Parley
import ParleySQLite
import ParleyStore

/// Measurements of reliable delivery (`Protocol/reliable.md`): how many reliable emits the
/// store accepts per second, how fast a fleet of devices drains its pending messages, and the
/// latency of a reliable emit to an online user next to a plain one. Server and clients run in
/// this one process (loopback); the figures are in `Samples/ReliableBench/README.md`.
@main
struct ReliableBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reliable delivery: persisted emits per second, drain on reconnect, emit-to-ack latency.",
        subcommands: [PersistBench.self, DrainBench.self, DrainClients.self, LatencyBench.self]
    )
}

/// Options every measurement shares.
struct StoreOptions: ParsableArguments {
    @Option(help: "Where the SQLite store goes (a fresh file in a temporary folder by default).") var store: String?
    @Flag(help: "Keep the store in memory instead of SQLite.") var inMemory = false
    @Option(help: "Group-commit delay of the writer, milliseconds.") var commitDelay = 1.0

    /// A fresh store and the folder to remove afterwards.
    func makeStore() throws -> (any ReliableStore, URL?) {
        if inMemory { return (InMemoryReliableStore(), nil) }
        if let store { return (SQLiteReliableStore(path: store), nil) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-reliable-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return (SQLiteReliableStore(path: directory.appendingPathComponent("reliable.sqlite").path), directory)
    }

    /// A server on a free loopback port with reliable delivery on `store`; the middleware names
    /// the user from the auth field `user`.
    func makeServer(_ store: any ReliableStore, adjust: (inout ReliableDelivery) -> Void = { _ in }) -> SocketServer {
        var configuration = SocketServerConfiguration()
        configuration.engine.address = .hostname("127.0.0.1", port: 0)
        var reliable = ReliableDelivery(store: store)
        reliable.log.commitDelay = .microseconds(Int64(commitDelay * 1_000))
        reliable.queueBounds = QueueBounds(maxMessages: 1_000_000, maxBytes: 1 << 30)
        adjust(&reliable)
        configuration.reliableDelivery = reliable
        var logger = Logger(label: "reliable-bench")
        logger.logLevel = .error
        let server = SocketServer(configuration: configuration, logger: logger)
        server.of("/").use { handshake in
            struct Auth: Decodable { var user: String? }
            if let user = try handshake.auth(as: Auth.self)?.user { handshake.identify(user: user) }
        }
        return server
    }
}

/// Prints one line of results at once.
func report(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

extension Duration {
    /// The duration in seconds, with fractions.
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}
