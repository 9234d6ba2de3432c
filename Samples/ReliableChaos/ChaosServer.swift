import ArgumentParser
import Foundation
import Logging
import NIOCore
import Parley
import ParleySQLite
import ServiceLifecycle
import UnixSignals

/// `ReliableChaos server`: `send {to, seq}` from a client queues `msg {from, seq}` for the user
/// `to` and answers with the message id; users are named by the auth field `user`.
struct ChaosServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "server", abstract: "The server: reliable delivery on an SQLite file.")

    @Option(help: "Port on 127.0.0.1; 0 picks a free one.") var port = 0
    @Option(help: "The SQLite file of reliable delivery.") var store: String
    @Option(help: "Log level.") var logLevel = "warning"
    @Option(help: "Milliseconds each `send` handler waits after queueing its message and before answering (a crash then falls between the two).") var handlerDelay = 0

    struct Send: Decodable {
        var to: String
        var seq: Int
    }

    struct Forwarded: Encodable, Sendable {
        var from: String
        var seq: Int
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var configuration = SocketServerConfiguration()
        configuration.engine.address = .hostname("127.0.0.1", port: port)
        var reliable = ReliableDelivery(store: SQLiteReliableStore(path: store))
        reliable.queueBounds = QueueBounds(maxMessages: 1_000_000, maxBytes: 1 << 30)
        configuration.reliableDelivery = reliable
        let server = SocketServer(configuration: configuration, logger: Logger(label: "chaos.server")) { address in
            announce(["event": "listening", "port": address.port ?? 0])
        }
        server.of("/").use { handshake in
            struct Auth: Decodable { var user: String? }
            guard let user = try handshake.auth(as: Auth.self)?.user else { throw ConnectError("no user") }
            handshake.identify(user: user)
        }
        let delay = Duration.milliseconds(handlerDelay)
        server.onConnection { socket in
            socket.on("send", answer: { event -> [String: String] in
                let request = try event.argument(0, as: Send.self)
                let id = try await socket.namespace.user(request.to).reliable.emit("msg", Forwarded(from: socket.user ?? "", seq: request.seq))
                if delay > .zero { try await Task.sleep(for: delay) }
                return ["id": id]
            })
        }
        let logger = Logger(label: "chaos.server")
        let group = ServiceGroup(configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

