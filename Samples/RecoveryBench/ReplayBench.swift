import ArgumentParser
import Foundation
import Logging
import NIOCore
import Parley
import ParleySQLite
import ParleyStore
import ParleyTesting

/// `RecoveryBench replay`: one client misses `--messages` broadcasts while its connection is
/// down; how long from its recovering CONNECT until it has every missed packet and the
/// CONNECT reply.
struct ReplayBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Time one recovering client's replay of N missed broadcasts (SQLite and in-memory store)."
    )

    enum StoreKind: String, ExpressibleByArgument, CaseIterable {
        case sqlite, memory
    }

    enum ClientKind: String, ExpressibleByArgument, CaseIterable {
        /// A WebSocket that counts frames on its event loop: the server's time, little else.
        case raw
        /// `ParleyClient`'s `SocketManager`, reconnecting through a proxy that refused it.
        case parley
    }

    @Option(help: "Broadcasts missed per recovery.") var messages = 10_000
    @Option(help: "Recoveries per store and client.") var repetitions = 5
    @Option(help: "Stores to measure (sqlite, memory); repeatable.") var store: [StoreKind] = StoreKind.allCases
    @Option(help: "Clients to measure (raw, parley); repeatable.") var client: [ClientKind] = ClientKind.allCases
    @Option(help: "Payload characters of each broadcast.") var payloadBytes = 100

    func run() async throws {
        let payload = String(repeating: "x", count: payloadBytes)
        print("replay of \(messages) missed broadcasts of \(payloadBytes) B, \(repetitions) recoveries each")
        for store in self.store {
            for client in self.client {
                let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-replay-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: directory) }  // best effort: a temp dir
                let server = try await Self.startServer(store: store, directory: directory)
                do {
                    let samples: [Double]
                    switch client {
                    case .raw:
                        samples = try await RawReplay(server: server.server, port: server.port, messages: messages, payload: payload)
                            .measure(repetitions: repetitions)
                    case .parley:
                        samples = try await ParleyClientReplay(server: server.server, port: server.port, messages: messages, payload: payload)
                            .measure(repetitions: repetitions)
                    }
                    print("\(store.rawValue) store, \(client.rawValue) client: \(Spread(samples: samples).summary)")
                } catch {
                    print("\(store.rawValue) store, \(client.rawValue) client: failed: \(error)")
                }
                await server.server.shutdown()
            }
        }
    }

    /// A server with recovery on `store` whose sockets join room `r` on their first connection.
    static func startServer(store: StoreKind, directory: URL) async throws -> (server: SocketServer, port: Int) {
        var configuration = SocketServerConfiguration()
        configuration.engine.address = .hostname("127.0.0.1", port: 0)
        let recoveryStore: any RecoveryStore
        switch store {
        case .sqlite: recoveryStore = SQLiteRecoveryStore(path: directory.appendingPathComponent("recovery.sqlite").path)
        case .memory: recoveryStore = InMemoryRecoveryStore()
        }
        configuration.connectionStateRecovery = ConnectionStateRecovery(store: recoveryStore)
        var logger = Logger(label: "recovery-bench.server")
        logger.logLevel = .error
        let server = SocketServer(configuration: configuration, logger: logger)
        server.onConnection { socket in
            if !socket.recovered { socket.join("r") }
        }
        let address = try await server.start()
        guard let port = address.port else { throw BenchFailure("the server has no port") }
        return (server, port)
    }
}

/// What went wrong in a measurement.
struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
