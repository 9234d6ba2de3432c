import Logging
import NIOCore
import ParleyEngine
import ParleyProtocol
import Synchronization

/// One Engine.IO connection seen by the Socket.IO layer: it reassembles packets and routes
/// them to the sockets of each namespace the client joined.
///
/// `@unchecked Sendable`: every stored `var` is touched on `transport.eventLoop` only; entry
/// points from elsewhere go through ``onLoop(_:)``.
final class SocketClient: @unchecked Sendable {
    let transport: any SocketTransport
    let core: SocketServerCore
    private var decoder: SocketPacketDecoder
    var sockets = SmallTable<Socket>()
    var connecting: Set<String> = []
    var connectTimer: Scheduled<Void>?
    var closed = false
    /// Middlewares and async handlers of this connection in flight (they end on other threads).
    private let pendingHandlers = Atomic<Int>(0)
    /// The server's logger with the engine session's id, built only when something is logged.
    var logger: Logger {
        var logger = core.logger
        logger[metadataKey: "parley.sid"] = "\(transport.id)"
        return logger
    }

    init(transport: any SocketTransport, core: SocketServerCore) {
        self.transport = transport
        self.core = core
        self.decoder = SocketPacketDecoder(maxAttachments: core.configuration.maxAttachments)
    }

    func onLoop(_ body: @escaping @Sendable (SocketClient) -> Void) {
        if transport.eventLoop.inEventLoop { body(self) } else { transport.eventLoop.execute { body(self) } }
    }

    /// The connection opened: it must join a namespace within `connectTimeout`.
    func opened() {
        let timeout = core.configuration.connectTimeout
        connectTimer = transport.eventLoop.scheduleTask(in: TimeAmount(timeout)) { [self] in
            guard sockets.isEmpty else { return }
            logger.debug("no namespace joined within the connect timeout")
            transport.close(reason: EngineCloseReason(.forcedClose, detail: "no CONNECT within \(timeout)"))
        }
    }

    /// An engine message arrived.
    func received(_ message: EngineMessage) {
        do {
            let packet: SocketPacket?
            switch message {
            case .text(let text): packet = try decoder.textReceived(text)
            case .binary(let bytes): packet = try decoder.binaryReceived(bytes)
            }
            if let packet { handle(packet) }
        } catch {
            logger.info("malformed socket packet; closing the connection", metadata: ["parley.error": "\(error)"])
            transport.close(reason: EngineCloseReason(.parseError, detail: error.description))
        }
    }

    private func handle(_ packet: SocketPacket) {
        switch packet.type {
        case .connect:
            connect(packet)
        case .disconnect:
            guard let socket = sockets.removeValue(forKey: packet.namespace) else { return }
            socket.disconnected(SocketDisconnectReason(.clientNamespaceDisconnect))
        case .event, .binaryEvent:
            guard let socket = sockets[packet.namespace] else {
                logger.debug("event for a namespace the client has not joined", metadata: ["parley.nsp": "\(packet.namespace)"])
                return
            }
            socket.eventReceived(packet)
        case .ack, .binaryAck:
            sockets[packet.namespace]?.ackReceived(packet)
        case .connectError:
            logger.info("client sent CONNECT_ERROR; closing the connection")
            transport.close(reason: EngineCloseReason(.parseError, detail: "CONNECT_ERROR from a client"))
        }
    }

    // MARK: Connecting to a namespace

    /// Runs `work` as a task the server tracks, at most
    /// ``SocketServerConfiguration/maxPendingHandlersPerConnection`` at once for this
    /// connection; past that the connection is closed, since its client sends faster than the
    /// application answers. Call on the connection's loop or from a handler.
    func spawn(_ work: @escaping @Sendable () async -> Void) {
        guard reserveHandler() else { return }
        let started = core.tasks.run { [self] in
            await work()
            releaseHandler()
        }
        if !started { releaseHandler() }
    }

    /// Counts one more piece of work in flight for this connection (see ``spawn(_:)``); past
    /// the limit the connection is closed and `false` returned. Each `true` is paired with one
    /// ``releaseHandler()``.
    func reserveHandler() -> Bool {
        let limit = core.configuration.maxPendingHandlersPerConnection
        guard pendingHandlers.wrappingAdd(1, ordering: .relaxed).newValue <= limit else {
            pendingHandlers.wrappingSubtract(1, ordering: .relaxed)
            logger.warning("too many handlers in flight; closing the connection", metadata: ["parley.limit": "\(limit)"])
            onLoop { client in
                client.close(
                    EngineCloseReason(.forcedClose, detail: "more than \(limit) handlers in flight"),
                    socketReason: SocketDisconnectReason(.forcedServerClose)
                )
            }
            return false
        }
        return true
    }

    /// Ends a piece of work counted by ``reserveHandler()``.
    func releaseHandler() {
        pendingHandlers.wrappingSubtract(1, ordering: .relaxed)
    }

    private func connect(_ packet: SocketPacket) {
        let name = packet.namespace
        guard sockets[name] == nil, !connecting.contains(name) else { return }
        guard let target = core.namespace(forConnecting: name) else {
            refuse(name, message: "Invalid namespace", data: nil)
            return
        }
        let handshake = SocketHandshake(namespace: name, authJSON: packet.payload, request: transport.request)
        if core.reliable != nil, case .invalid? = ReliableIdentity.parseDeviceID(in: handshake.authJSON) {
            refuse(name, message: "invalid deviceId", data: nil)
            return
        }
        if let recovery = core.recovery, let claim = RecoveryClaim(handshake.authJSON) {
            connecting.insert(name)
            spawn { [self] in await recover(claim, target, handshake, recovery) }
            return
        }
        admit(target, handshake)
    }

    /// Runs the middlewares, then accepts or refuses. Call on the connection's loop.
    func admit(_ target: NamespaceTarget, _ handshake: SocketHandshake) {
        let name = handshake.namespace
        let middlewares = target.middlewareSource.middlewares
        guard !middlewares.isEmpty else {
            accept(target, handshake)
            return
        }
        connecting.insert(name)
        spawn { [self] in
            let outcome = await runMiddlewares(middlewares, handshake)
            self.onLoop { client in
                client.connecting.remove(name)
                guard !client.closed else { return }
                if let (message, data) = outcome {
                    client.refuse(name, message: message, data: data)
                } else {
                    client.accept(target, handshake)
                }
            }
        }
    }

    /// Runs `middlewares` in order; the refusal (message and data) of the first that throws.
    func runMiddlewares(_ middlewares: [Namespace.Middleware], _ handshake: SocketHandshake) async -> (String, (any Encodable & Sendable)?)? {
        for middleware in middlewares {
            do {
                try await middleware(handshake)
            } catch let error as ConnectError {
                return (error.message, error.data)
            } catch is CancellationError {
                return ("Server shutting down", nil)
            } catch {
                logger.error("middleware failed", metadata: ["parley.nsp": "\(handshake.namespace)", "parley.error": "\(error)"])
                return ("Internal server error", nil)
            }
        }
        return nil
    }

    func accept(_ target: NamespaceTarget, _ handshake: SocketHandshake) {
        guard let (namespace, socket) = place(target, handshake.namespace, { Socket(namespace: $0, handshake: handshake, client: self) }) else { return }
        sockets[namespace.name] = socket
        connectTimer?.cancel()
        connectTimer = nil
        socket.writeNow(connectReply(socket), volatile: false)
        logger.debug("socket connected", metadata: ["parley.nsp": "\(namespace.name)", "parley.socket": "\(socket.id)"])
        runConnectionHandlers(socket)
    }

    /// Creates the socket with `make` in the namespace `target` names (creating a dynamic
    /// one if needed) and adds it; refuses the CONNECT when no more dynamic namespaces may be
    /// created.
    func place(_ target: NamespaceTarget, _ name: String, _ make: @escaping (Namespace) -> Socket) -> (Namespace, Socket)? {
        switch target {
        case .existing(let namespace):
            let socket = make(namespace)
            namespace.add(socket)
            return (namespace, socket)
        case .dynamic(let template):
            var created: Socket?
            let joined = core.joinDynamicNamespace(name, template: template) { child in
                let socket = make(child)
                child.add(socket)
                created = socket
            }
            guard let joined, let created else {
                logger.warning("dynamic namespace refused: maxDynamicNamespaces reached", metadata: ["parley.nsp": "\(name)"])
                refuse(name, message: "Too many namespaces", data: nil)
                return nil
            }
            return (joined, created)
        }
    }

    /// The CONNECT reply: `{"sid":...}`, with `"pid"` when the socket can be recovered.
    func connectReply(_ socket: Socket) -> EncodedPacket {
        var payload = ByteBuffer()
        payload.writeStaticString("{\"sid\":")
        payload.writeJSONString(socket.id)
        if let pid = socket.pid {
            payload.writeStaticString(",\"pid\":")
            payload.writeJSONString(pid)
        }
        payload.writeStaticString("}")
        return EncodedPacket(SocketPacket(type: .connect, namespace: socket.namespace.name, payload: payload))
    }

    /// Runs the namespace's connection handlers for a socket whose client has its CONNECT
    /// reply, then saves its session when recovery is on.
    func runConnectionHandlers(_ socket: Socket) {
        for handler in socket.namespace.connectionHandlers {
            guard socket.isConnected else { break }
            handler(socket)
        }
        socket.namespace.recovering?.saveSession(of: socket)
        if socket.isConnected { socket.becameReady() }
    }

    func refuse(_ name: String, message: String, data: (any Encodable & Sendable)?) {
        let payload: ByteBuffer
        do {
            payload = try ConnectErrorPayload.encode(message: message, data: data)
        } catch {
            logger.error("CONNECT_ERROR data could not be encoded", metadata: ["parley.error": "\(error)"])
            payload = (try? ConnectErrorPayload.encode(message: message, data: nil)) ?? ByteBuffer(string: "{}")
        }
        let packet = SocketPacket(type: .connectError, namespace: name, payload: payload)
        let encoded = EncodedPacket(packet)
        transport.send(encoded.text)
    }

    // MARK: Leaving

    /// The server removed `socket` from its namespace (`socket.disconnect()`).
    func serverDisconnected(_ socket: Socket) {
        guard sockets[socket.namespace.name] === socket else { return }
        sockets[socket.namespace.name] = nil
        socket.write(EncodedPacket(SocketPacket(type: .disconnect, namespace: socket.namespace.name)), volatile: false)
        socket.disconnected(SocketDisconnectReason(.serverNamespaceDisconnect))
    }

    /// Disconnects every socket with `socketReason`, then closes the connection for `reason`.
    func close(_ reason: EngineCloseReason, socketReason: SocketDisconnectReason) {
        disconnectAll(socketReason)
        transport.close(reason: reason)
    }

    /// The connection ended.
    func transportClosed(_ reason: EngineCloseReason) {
        disconnectAll(SocketDisconnectReason(reason))
    }

    private func disconnectAll(_ reason: SocketDisconnectReason) {
        closed = true
        connectTimer?.cancel()
        connectTimer = nil
        let all = sockets.values
        sockets.removeAll()
        for socket in all { socket.disconnected(reason) }
    }
}

/// The `CONNECT_ERROR` payload `{"message":..., "data":...}`.
enum ConnectErrorPayload {
    static func encode(message: String, data: (any Encodable & Sendable)?) throws -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeStaticString("{\"message\":")
        buffer.writeJSONString(message)
        if let data {
            let (json, _) = try SocketPayloadEncoder.encode(name: nil, arguments: [data])
            // `[value]` → `value`
            var value = json
            value.moveReaderIndex(forwardBy: 1)
            value.moveWriterIndex(to: value.writerIndex - 1)
            buffer.writeStaticString(",\"data\":")
            buffer.writeImmutableBuffer(value)
        }
        buffer.writeStaticString("}")
        return buffer
    }
}
