import AsyncHTTPClient
import Foundation
public import Logging
public import NIOCore
public import NIOPosix
public import ParleyProtocol
public import ServiceLifecycle
import Synchronization

/// One connection to one Socket.IO server, shared by the sockets of every namespace, with
/// reconnection. It is a `Service`: ``run()`` connects, reconnects with backoff, and returns
/// after ``disconnect()`` or when its task is cancelled.
///
/// ```swift
/// let manager = try SocketManager(url: "http://127.0.0.1:3000")
/// let socket = manager.socket()
/// socket.on("news") { event in print(try event.argument(0, as: String.self)) }
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { try await manager.run() }
///     try socket.emit("hello", "world")
/// }
/// ```
public final class SocketManager: Service, Sendable {
    /// The server URL.
    public let url: String
    /// The settings.
    public let configuration: SocketClientConfiguration
    let endpoint: ClientEndpoint
    let eventLoopGroup: any EventLoopGroup
    let httpConfiguration: HTTPClient.Configuration
    let connector: WebSocketConnector
    let logger: Logger
    /// Reliable delivery, when configured.
    let reliable: ClientReliableRuntime?
    let state = Mutex(ManagerState())

    struct ManagerState: Sendable {
        var sockets: [String: ClientSocket] = [:]
        var connection: EngineClientConnection?
        /// Sockets made while connected, to join on the current connection.
        var lateConnects: AsyncStream<ClientSocket>.Continuation?
        var open = false
        var stopped = false
        /// Set when a connection that started on WebSocket died without ever carrying data;
        /// cleared once a WebSocket works.
        var webSocketSuspect = false
        var transport: EngineTransportKind?
        var reconnectAttemptHandlers: [@Sendable (Int) -> Void] = []
        var reconnectHandlers: [@Sendable (Int) -> Void] = []
        var reconnectFailedHandlers: [@Sendable () -> Void] = []
        var upgradeHandlers: [@Sendable (EngineTransportKind) -> Void] = []
    }

    /// Creates a manager for `url` (`http(s)://` or `ws(s)://`); nothing connects before ``run()``.
    public init(
        url: String,
        configuration: SocketClientConfiguration = SocketClientConfiguration(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "parley.client")
    ) throws {
        self.url = url
        self.configuration = configuration
        let endpoint = try ClientEndpoint(url: url, configuration: configuration)
        self.endpoint = endpoint
        self.eventLoopGroup = eventLoopGroup
        var httpConfiguration = HTTPClient.Configuration()
        // A refused connection must fail now so that the manager's backoff (and its attempt
        // events and limit) governs retries, not the HTTP pool's own.
        httpConfiguration.connectionPool.retryConnectionEstablishment = false
        httpConfiguration.timeout.connect = .init(configuration.connectTimeout)
        httpConfiguration.decompression = .disabled
        httpConfiguration.tlsConfiguration = configuration.tlsConfiguration
        self.httpConfiguration = httpConfiguration
        self.connector = WebSocketConnector(endpoint: endpoint, headers: configuration.headers, tlsConfiguration: configuration.tlsConfiguration, group: eventLoopGroup, maxFrameSize: 64 << 20)
        self.logger = logger
        self.reliable = configuration.reliable.map(ClientReliableRuntime.init)
    }

    /// The socket for `namespace` (one per namespace; asking again returns the same one).
    public func socket(_ namespace: String = "/", auth: ClientAuth = .none) -> ClientSocket {
        let name = namespace.hasPrefix("/") ? namespace : "/" + namespace
        let (socket, created) = state.withLock { state in
            if let existing = state.sockets[name] { return (existing, false) }
            let socket = ClientSocket(namespace: name, auth: auth, manager: self)
            state.sockets[name] = socket
            return (socket, true)
        }
        // A socket made while connected joins at once; otherwise on the next open.
        if created { socketWantsConnection(socket) }
        return socket
    }

    /// The transport in use while connected.
    public var transport: EngineTransportKind? { state.withLock { $0.open ? $0.transport : nil } }

    /// Runs `handler` before each reconnection attempt, with the attempt number (from 1).
    public func onReconnectAttempt(_ handler: @escaping @Sendable (Int) -> Void) {
        state.withLock { $0.reconnectAttemptHandlers.append(handler) }
    }

    /// Runs `handler` after a reconnection succeeded, with the number of attempts it took.
    public func onReconnect(_ handler: @escaping @Sendable (Int) -> Void) {
        state.withLock { $0.reconnectHandlers.append(handler) }
    }

    /// Runs `handler` when a polling connection moved to WebSocket.
    public func onUpgrade(_ handler: @escaping @Sendable (EngineTransportKind) -> Void) {
        state.withLock { $0.upgradeHandlers.append(handler) }
    }

    /// Runs `handler` when reconnection gave up (attempt limit reached).
    public func onReconnectFailed(_ handler: @escaping @Sendable () -> Void) {
        state.withLock { $0.reconnectFailedHandlers.append(handler) }
    }

    /// Closes the connection for good (`io client disconnect`); ``run()`` returns, or does not
    /// start. A manager is not restarted after this: make a new one.
    public func disconnect() async {
        let connection = state.withLock { state in
            state.stopped = true
            return state.connection
        }
        await connection?.close()
    }

    /// Connects, and reconnects with backoff after each loss, until ``disconnect()``, the
    /// attempt limit, or cancellation.
    public func run() async throws {
        var backoff = configuration.backoff
        var attempt = 0
        let http = HTTPClient(eventLoopGroupProvider: .shared(eventLoopGroup), configuration: httpConfiguration)
        while !Task.isCancelled, !state.withLock({ $0.stopped }) {
            let reason = await connectOnce(attempt: &attempt, backoff: &backoff, http: http)
            guard configuration.reconnection, reason.allowsReconnection, !Task.isCancelled, !state.withLock({ $0.stopped }) else { break }
            guard let delay = backoff.nextDelay(random: Double.random(in: 0..<1)) else {
                for handler in state.withLock({ $0.reconnectFailedHandlers }) { handler() }
                break
            }
            attempt += 1
            logger.debug("reconnecting", metadata: ["parley.attempt": "\(attempt)", "parley.delay": "\(delay)"])
            for handler in state.withLock({ $0.reconnectAttemptHandlers }) { handler(attempt) }
            try? await Task.sleep(for: delay)
        }
        try? await http.shutdown()  // nothing is in flight any more; a failure here changes nothing
    }

    private func connectOnce(attempt: inout Int, backoff: inout ReconnectBackoff, http: HTTPClient) async -> ClientCloseReason {
        let (startWithWebSocket, allowUpgrade) = strategy()
        let connection = EngineClientConnection(
            polling: PollingClient(http: http, endpoint: endpoint, headers: configuration.headers, maxResponseBytes: 64 << 20),
            connector: connector,
            configuration: configuration,
            startWithWebSocket: startWithWebSocket,
            allowUpgrade: allowUpgrade,
            logger: logger
        )
        // A disconnect() racing with this attempt must find the connection, or stop it here.
        guard state.withLock({ state in
            if !state.stopped { state.connection = connection }
            return !state.stopped
        }) else { return ClientCloseReason(.clientDisconnect) }
        async let running: Void = connection.run()
        var decoder = SocketPacketDecoder()
        var reason = ClientCloseReason(.transportClose)
        // CONNECTs of sockets made while connected go out from a child of this attempt, so
        // none outlives the connection it was meant for.
        let (lateConnects, lateConnectsContinuation) = AsyncStream<ClientSocket>.makeStream()
        state.withLock { $0.lateConnects = lateConnectsContinuation }
        async let lateConnectsSent: Void = sendConnects(of: lateConnects, on: connection)
        for await event in connection.events {
            switch event {
            case .opened(_, let kind):
                backoff.reset()
                let (sockets, handlers) = state.withLock { state in
                    state.open = true
                    state.transport = kind
                    return (Array(state.sockets.values), state.reconnectHandlers)
                }
                if attempt > 0 {
                    for handler in handlers { handler(attempt) }
                    attempt = 0
                }
                for socket in sockets where socket.state.withLock({ $0.wantsConnection }) {
                    await sendConnect(socket, on: connection)
                }
            case .upgraded:
                let handlers = state.withLock { state in
                    state.transport = .websocket
                    state.webSocketSuspect = false
                    return state.upgradeHandlers
                }
                for handler in handlers { handler(.websocket) }
            case .message(let message):
                do {
                    let packet: SocketPacket?
                    switch message {
                    case .text(let text): packet = try decoder.textReceived(text)
                    case .binary(let bytes): packet = try decoder.binaryReceived(bytes)
                    }
                    if let packet { await state.withLock { $0.sockets[packet.namespace] }?.packetReceived(packet) }
                } catch {
                    await connection.finish(ClientCloseReason(.parseError, detail: error.description))
                }
            case .closed(let closeReason, let receivedAnything):
                reason = closeReason
                state.withLock { state in
                    if startWithWebSocket, !receivedAnything, closeReason.code == .transportError || closeReason.code == .pingTimeout {
                        state.webSocketSuspect = true
                    }
                }
            }
        }
        state.withLock { $0.lateConnects = nil }
        lateConnectsContinuation.finish()
        await lateConnectsSent
        await running
        let sockets = state.withLock { state in
            state.open = false
            state.connection = nil
            return Array(state.sockets.values)
        }
        for socket in sockets { socket.disconnected(reason) }
        return reason
    }

    /// Which transport to open with, and whether to try the upgrade.
    private func strategy() -> (startWithWebSocket: Bool, allowUpgrade: Bool) {
        switch configuration.transports {
        case .pollingOnly: return (false, false)
        case .pollingThenUpgrade: return (false, true)
        case .webSocketOnly: return (true, false)
        case .webSocketFirst:
            // After a WebSocket that carried nothing (a proxy that stalls it), open on polling;
            // the upgrade probe then finds out whether WebSocket works again.
            return state.withLock { $0.webSocketSuspect } ? (false, true) : (true, false)
        }
    }

    private func sendConnects(of sockets: AsyncStream<ClientSocket>, on connection: EngineClientConnection) async {
        for await socket in sockets { await sendConnect(socket, on: connection) }
    }

    private func sendConnect(_ socket: ClientSocket, on connection: EngineClientConnection) async {
        do {
            send(try await socket.connectPacket(), on: connection)
        } catch {
            logger.error("could not build the CONNECT packet", metadata: ["parley.nsp": "\(socket.namespace)", "parley.error": "\(error)"])
        }
    }

    /// A socket asked to join while the manager may already be connected.
    func socketWantsConnection(_ socket: ClientSocket) {
        guard !socket.isConnected else { return }
        state.withLock { $0.open ? $0.lateConnects : nil }?.yield(socket)
    }

    /// Sends a packet on the current connection (dropped when there is none: sockets buffer
    /// their own emits until they are connected).
    func send(_ packet: SocketPacket, bypassingBuffer: Bool) {
        guard let connection = state.withLock({ $0.connection }) else { return }
        send(packet, on: connection)
    }

    private func send(_ packet: SocketPacket, on connection: EngineClientConnection) {
        let (text, attachments) = SocketPacketEncoder.encode(packet)
        connection.send([.text(text)] + attachments.map(EngineMessage.binary))
    }
}
