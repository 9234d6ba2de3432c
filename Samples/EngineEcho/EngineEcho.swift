public import ArgumentParser
import Foundation
import Logging
import NIOCore
@_spi(Testing) import ParleyEngine
import ParleyProtocol
import ServiceLifecycle
import UnixSignals

/// Echoes every Engine.IO message (text and binary) back to the session that sent it.
@main
struct EngineEcho: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "An Engine.IO v4 echo server.")

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free one.")
    var port = 3000

    @Option(help: "Endpoint path.")
    var path = "/engine.io/"

    @Option(help: "Ping interval in milliseconds (advertised exactly).")
    var pingInterval: Int64 = 25_000

    @Option(help: "Ping timeout in milliseconds (advertised exactly).")
    var pingTimeout: Int64 = 20_000

    @Option(help: "Largest message or polling body accepted, in bytes.")
    var maxPayload = 1_000_000

    @Option(help: "Allowed CORS origin; repeat for several, '*' for any. CORS is off without it.")
    var corsOrigin: [String] = []

    @Option(help: "How long an HTTP connection may stay silent outside a held GET, in milliseconds.")
    var idleTimeout: Int64 = 30_000

    @Option(name: .customLong("raw-websocket-echo"), help: "Also serve WebSocket upgrades on this path as a raw WebSocket echo (no Engine.IO), for conformance suites.")
    var rawWebSocketEcho: String?

    @Option(help: "Log level (trace, debug, info, notice, warning, error, critical).")
    var logLevel: Logger.Level = .info

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        var configuration = EngineConfiguration()
        configuration.address = .hostname(host, port: port)
        configuration.path = path
        configuration.pingInterval = .milliseconds(pingInterval)
        configuration.pingTimeout = .milliseconds(pingTimeout)
        configuration.maxPayloadBytes = maxPayload
        configuration.idleConnectionTimeout = .milliseconds(idleTimeout)
        configuration.rawWebSocketEchoPath = rawWebSocketEcho
        if !corsOrigin.isEmpty {
            configuration.cors = CORSConfiguration(allowedOrigins: corsOrigin.contains("*") ? .any : .list(corsOrigin))
        }
        let logger = Logger(label: "parley.engine-echo")
        let host = self.host
        let port = self.port
        let path = self.path
        let server = EngineServer(configuration: configuration, handler: Echo(), logger: logger) { address in
            // Written unbuffered once the service group traps SIGTERM/SIGINT: scripts wait for
            // this line to learn the port, and may stop the server as soon as they read it.
            FileHandle.standardOutput.write(Data("EngineEcho listening on http://\(host):\(address.port ?? port)\(path)\n".utf8))
        }
        let group = ServiceGroup(
            configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
    }
}

/// Sends each message straight back.
struct Echo: EngineHandler {
    func sessionOpened(_ session: EngineSession) {}

    func session(_ session: EngineSession, received message: EngineMessage) {
        session.send(message)
    }

    func session(_ session: EngineSession, closedWith reason: EngineCloseReason) {}
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
