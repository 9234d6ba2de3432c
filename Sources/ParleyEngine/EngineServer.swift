public import Logging
public import NIOCore
import NIOHTTP1
public import NIOPosix
import NIOWebSocket
public import ServiceLifecycle
import Synchronization
import ParleyProtocol

/// An Engine.IO v4 server: HTTP long-polling and WebSocket on one port, with upgrades.
///
/// ```swift
/// var configuration = EngineConfiguration()
/// configuration.address = .hostname("127.0.0.1", port: 3000)
/// let server = EngineServer(configuration: configuration, handler: Echo())
/// try await server.run() // until cancelled or a graceful shutdown
/// ```
///
/// `run()` makes it a `Service` for swift-service-lifecycle; tests use ``start()`` and
/// ``shutdown()`` directly.
public final class EngineServer: Service, Sendable {
    /// A configuration the server cannot run with.
    public struct ConfigurationError: Error, CustomStringConvertible {
        public let description: String
    }

    let core: EngineServerCore
    private let group: any EventLoopGroup
    private let listener = Mutex<(any Channel)?>(nil)
    private let onServerRunning: (@Sendable (SocketAddress) async -> Void)?

    /// Creates a server; nothing listens until ``start()`` or ``run()``.
    ///
    /// - Parameter onServerRunning: called by ``run()`` once the server listens, with the bound
    ///   address. Under a `ServiceGroup` its signal handlers are in place by then, so this is
    ///   the moment to announce the address to a parent process.
    public init(
        configuration: EngineConfiguration,
        handler: some EngineHandler,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "parley.engine"),
        onServerRunning: (@Sendable (SocketAddress) async -> Void)? = nil
    ) {
        self.core = EngineServerCore(configuration: configuration, handler: handler, logger: logger)
        self.group = eventLoopGroup
        self.onServerRunning = onServerRunning
    }

    /// The number of live sessions.
    public var sessionCount: Int { core.sessionCount }

    /// The number of open TCP connections (HTTP and WebSocket).
    public var connectionCount: Int { core.connectionCount }

    /// The live session with this id, if any.
    public func session(id: String) -> EngineSession? { core.session(id: id) }

    /// Binds the listening socket and starts accepting connections.
    ///
    /// - Returns: the bound address (useful with port 0).
    /// - Throws: ``ConfigurationError`` for unusable settings, or the bind error.
    @discardableResult
    public func start() async throws -> SocketAddress {
        try Self.validate(core.configuration)
        let core = self.core
        guard case .hostname(let host, let port) = core.configuration.address else { preconditionFailure() }
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // Out of file descriptors, stop accepting for a moment instead of retrying at once
            // in a loop: the connections already open keep being served.
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptPause(logger: core.logger))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            // Each connection keeps its receive buffer between reads: start it small (an idle
            // WebSocket reads a few dozen bytes at a time) and let it grow for large messages.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65536))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.configure(channel, core: core)
                }
            }
            .bind(host: host, port: port)
            .get()
        listener.withLock { $0 = channel }
        core.logger.info("engine listening", metadata: ["parley.address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        return channel.localAddress!
    }

    /// Runs until the task is cancelled or a graceful shutdown is requested, then shuts down.
    public func run() async throws {
        var address = listener.withLock({ $0 })?.localAddress
        if address == nil { address = try await start() }
        if let address { await onServerRunning?(address) }
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Stops accepting, closes every session with `server shutting down`, waits (at most
    /// ``EngineConfiguration/shutdownGracePeriod``) for the close packets to go out, then closes
    /// every remaining connection.
    public func shutdown() async {
        let channel = listener.withLock { listener in
            defer { listener = nil }
            return listener
        }
        try? await channel?.close()
        let sessions = core.allSessions
        for session in sessions {
            session.onLoop { $0.close(EngineCloseReason(.serverShuttingDown)) }
        }
        // Wait for the close packets to go out, but no longer than the grace period: a polling
        // client that is not polling right now would otherwise hold shutdown for pingTimeout.
        let loop = group.next()
        let drained = loop.makePromise(of: Void.self)
        let settled = OnceFlag()
        EventLoopFuture.andAllComplete(sessions.map { $0.closeFuture.map { _ in } }, on: loop)
            .whenComplete { _ in if settled.set() { drained.succeed() } }
        loop.scheduleTask(in: TimeAmount(core.configuration.shutdownGracePeriod)) { if settled.set() { drained.succeed() } }
        try? await drained.futureResult.get()
        for session in core.allSessions {
            session.onLoop { $0.finish(EngineCloseReason(.serverShuttingDown)) }
        }
        for connection in core.openConnections {
            try? await connection.close()
        }
    }

    private static func validate(_ configuration: EngineConfiguration) throws {
        for (name, value) in [("pingInterval", configuration.pingInterval), ("pingTimeout", configuration.pingTimeout)] {
            let milliseconds = Duration.milliseconds(value.wholeMilliseconds)
            guard milliseconds == value, value > .zero else {
                throw ConfigurationError(description: "\(name) must be a positive whole number of milliseconds, got \(value)")
            }
        }
        guard configuration.maxPayloadBytes > 0, configuration.maxQueuedPackets > 0 else {
            throw ConfigurationError(description: "maxPayloadBytes and maxQueuedPackets must be positive")
        }
        guard !configuration.transports.isEmpty, configuration.path.hasPrefix("/") else {
            throw ConfigurationError(description: "at least one transport and a path starting with / are required")
        }
        guard configuration.maxRequestHeaderBytes > 0 else {
            throw ConfigurationError(description: "maxRequestHeaderBytes must be positive, got \(configuration.maxRequestHeaderBytes)")
        }
        guard configuration.maxQueuedBytes > 0, configuration.maxQueuedBytes <= 1 << 30 else {
            throw ConfigurationError(description: "maxQueuedBytes must be between 1 byte and 1 GiB, got \(configuration.maxQueuedBytes)")
        }
        let limits = configuration.limits
        for (name, value) in [("maxConnections", limits.maxConnections), ("maxSessionsPerAddress", limits.maxSessionsPerAddress), ("maxHandshakesPerSecond", limits.maxHandshakesPerSecond)] {
            if let value, value <= 0 { throw ConfigurationError(description: "limits.\(name) must be positive or nil, got \(value)") }
        }
        for (path, file) in configuration.staticFiles {
            if let tag = file.entityTag, !StaticFile.isValidEntityTag(tag) {
                throw ConfigurationError(description: "staticFiles[\"\(path)\"]: the entity tag may hold only the characters ! and # to ~, got \(tag)")
            }
        }
        if let cors = configuration.cors, cors.allowCredentials, case .any = cors.allowedOrigins {
            throw ConfigurationError(description: "CORS: allowCredentials with any origin would let every site use a visitor's cookies; list the allowed origins")
        }
    }

    /// Builds one accepted connection's pipeline (see ``EngineConnectionPipeline``).
    static func configure(_ channel: any Channel, core: EngineServerCore) throws {
        guard core.connectionOpened(channel) else {
            refuseConnection(channel, core: core)
            return
        }
        try EngineConnectionPipeline(channel: channel, core: core).install()
    }

    /// Answers a connection past ``EngineConfiguration/Limits/maxConnections`` with a bare
    /// `503` and closes it, without reading anything from it.
    private static func refuseConnection(_ channel: any Channel, core: EngineServerCore) {
        core.logger.warning("connection refused: maxConnections reached", metadata: ["parley.limit": "\(core.configuration.limits.maxConnections ?? 0)"])
        let body = #"{"code":7,"message":"Server busy"}"#
        let response = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        channel.writeAndFlush(ByteBuffer(string: response)).whenComplete { _ in channel.close(promise: nil) }
    }

    /// Decides a WebSocket upgrade request: the headers of the `101` answer, or `nil` after
    /// writing the refusal.
    static func shouldUpgrade(_ channel: any Channel, _ head: HTTPRequestHead, core: EngineServerCore) -> HTTPHeaders? {
        guard head.headers.byteCount <= core.configuration.maxRequestHeaderBytes else {
            let responder = HTTPResponder(channel: channel, version: head.version, keepAlive: false, extraHeaders: [:])
            responder.respond(status: .requestHeaderFieldsTooLarge, contentType: nil, body: ByteBuffer(), closeConnection: true)
            return nil
        }
        if let headers = RawWebSocketEcho.upgradeHeaders(head, core: core) { return headers }
        let request = EngineRequest(method: head.method, uri: head.uri, headers: head.headers, remoteAddress: channel.remoteAddress)
        let route = EngineRoute(request, configuration: core.configuration, cors: core.cors, isUpgrade: true)
        guard case .websocket(let sid) = route, sid.map({ core.session(id: $0) != nil }) ?? true else {
            // A refused upgrade ends the connection, so the answer is written here.
            refuseUpgrade(route, channel: channel, head: head, core: core)
            return nil
        }
        if sid == nil, let refusal = core.checkSession(for: request) {
            refuseUpgrade(.reject(refusal), channel: channel, head: head, core: core)
            return nil
        }
        return core.cors.responseHeaders(for: head.headers)
    }

    static func refuseUpgrade(_ route: EngineRoute, channel: any Channel, head: HTTPRequestHead, core: EngineServerCore) {
        let responder = HTTPResponder(channel: channel, version: head.version, keepAlive: false, extraHeaders: core.cors.responseHeaders(for: head.headers))
        switch route {
        case .notFound:
            responder.respond(status: .notFound, contentType: nil, body: ByteBuffer())
        case .reject(let error):
            responder.respond(error: error)
        case .websocket:
            responder.respond(error: .sessionIDUnknown)
        case .preflight, .handshake, .poll, .post, .staticFile:
            // Upgrade headers on a polling request: not something a client does.
            responder.respond(error: .badRequest)
        }
    }
}
