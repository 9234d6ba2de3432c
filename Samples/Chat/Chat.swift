public import ArgumentParser
import Foundation
import Logging
import NIOCore
import Parley
import ParleySQLite
import ParleyEngine
import ServiceLifecycle
import UnixSignals

/// A chat server with rooms, nicknames, typing indicators, acknowledged messages, room
/// histories and direct messages that reach offline users, serving its own web page. The chat protocol is described in `Samples/Chat/README.md`.
@main
struct Chat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A Socket.IO chat server with its own web page.")

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free one.")
    var port = 3000

    @Option(help: "Path of the official socket.io.min.js, served at /socket.io/socket.io.min.js for the page's ?client=socketio (the page runs on parley.js otherwise).")
    var clientJS: String?

    @Option(help: "The SQLite file of connection state recovery (created if missing).")
    var recoveryStore = "data/chat-recovery.sqlite"

    @Flag(help: "Turn connection state recovery off.")
    var noRecovery = false

    @Option(help: "The SQLite file of reliable delivery: direct messages to offline users, room histories (created if missing).")
    var reliableStore = "data/chat-reliable.sqlite"

    @Option(help: "Seconds a disconnected socket stays recoverable.")
    var maxDisconnectionDuration = 120

    @Option(help: "Allowed CORS origin, for the page served from elsewhere (?server=URL); repeat for several, '*' for any. CORS is off without it.")
    var corsOrigin: [String] = []

    @Option(help: "Log level (trace, debug, info, notice, warning, error, critical).")
    var logLevel: Logger.Level = .info

    func validate() throws {
        if let clientJS, !FileManager.default.isReadableFile(atPath: clientJS) {
            throw ValidationError("--client-js: cannot read '\(clientJS)'")
        }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        let logger = Logger(label: "parley.chat")

        var configuration = SocketServerConfiguration()
        configuration.engine.address = .hostname(host, port: port)
        if !corsOrigin.isEmpty {
            configuration.engine.cors = CORSConfiguration(allowedOrigins: corsOrigin.contains("*") ? .any : .list(corsOrigin))
        }
        configuration.engine.staticFiles["/"] = StaticFile(
            contentType: "text/html; charset=utf-8",
            body: ByteBuffer(string: ChatPage.html)
        )
        if let clientJS {
            let bundle = try Data(contentsOf: URL(fileURLWithPath: clientJS))
            configuration.engine.staticFiles[ChatPage.clientBundlePath] = StaticFile(
                contentType: "application/javascript",
                body: ByteBuffer(bytes: bundle)
            )
        } else {
            logger.debug("no --client-js given: the page runs on parley.js only (?client=socketio explains how to get socket.io.min.js)")
        }

        if !noRecovery {
            // The store creates the file and its folder; a path it cannot use stops the server
            // at start with the store's error.
            configuration.connectionStateRecovery = ConnectionStateRecovery(
                store: SQLiteRecoveryStore(path: recoveryStore),
                maxDisconnectionDuration: .seconds(maxDisconnectionDuration)
            )
        }
        // Direct messages wait for offline users and rooms keep their history, across restarts.
        configuration.reliableDelivery = ReliableDelivery(store: SQLiteReliableStore(path: reliableStore))
        let host = self.host
        let port = self.port
        let server = SocketServer(configuration: configuration, logger: logger) { address in
            // Written unbuffered once the service group traps SIGTERM/SIGINT: scripts wait for
            // this line to learn the port, and may stop the server as soon as they read it.
            FileHandle.standardOutput.write(Data("Chat listening on http://\(host):\(address.port ?? port)/\n".utf8))
        }
        ChatService(server: server, logger: logger).attach()
        let group = ServiceGroup(
            configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
