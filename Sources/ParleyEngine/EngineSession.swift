import Logging
public import NIOCore
import NIOWebSocket
public import ParleyProtocol
import Synchronization

/// One Engine.IO session: a client known by its `sid`, on polling or WebSocket.
///
/// All mutable state is confined to ``eventLoop``; the public methods may be called from any
/// thread and hop there. The ``EngineHandler`` callbacks run on that loop.
///
/// `@unchecked Sendable`: every stored `var` is read and written on `eventLoop` only.
public final class EngineSession: @unchecked Sendable {
    /// The session id. It is a bearer secret for polling requests: do not show it to other clients.
    public let id: String
    /// The event loop this session's state lives on.
    public let eventLoop: any EventLoop
    /// The HTTP request that opened the session, without the WebSocket handshake's own
    /// `Sec-WebSocket-*` headers.
    public let request: EngineRequest

    let core: EngineServerCore
    /// The server's logger with this session's id; built when something is logged, so that an
    /// idle session does not keep a metadata dictionary of its own.
    var logger: Logger {
        var logger = core.logger
        logger[metadataKey: "parley.sid"] = "\(id)"
        return logger
    }

    enum Transport {
        case polling(PollingState)
        case websocket(WebSocketTransport)
    }

    struct PollingState {
        var pendingGet: HTTPResponder?
        /// The cache-busting key (`t`) of the held GET, if it had one.
        var pendingKey: String?
        /// The last GET answered with packets, by its key: a GET that comes again with the same
        /// key is the browser resending a request whose answer never reached it.
        var lastAnswer: (key: String, body: ByteBuffer)?
        /// The connection carrying the POST whose body is being read, if any.
        var postInFlight: ObjectIdentifier?
    }

    enum Phase {
        case open
        /// A server-side close waiting for the next GET to deliver `1`.
        case closing(EngineCloseReason, deadline: NIODeadline)
        case closed
    }

    var transport: Transport
    var upgrade: UpgradeStateMachine?
    var probe: WebSocketTransport?
    var heartbeat: HeartbeatStateMachine
    /// Packets waiting for the transport. An array rather than a ring: it is emptied whole on
    /// every flush, and an idle session keeps no storage for it until its first packet.
    var outbound: [OutboundPacket] = []
    /// The bytes of the messages in ``outbound``, bounded by
    /// ``EngineConfiguration/maxQueuedBytes``.
    var outboundBytes = 0
    var phase = Phase.open
    var timer: (task: Scheduled<Void>, deadline: NIODeadline)?
    var flushScheduled = false
    /// Frames were written to the WebSocket and await the end-of-tick flush.
    var webSocketUnflushed = false
    let flusher: LoopFlusher
    let maxQueuedPackets: Int
    /// Who waits for the end, and how it ended; the promise is made only when someone asks.
    let closing = Mutex<(promise: EventLoopPromise<EngineCloseReason>?, reason: EngineCloseReason?)>((nil, nil))

    init(core: EngineServerCore, eventLoop: any EventLoop, request: EngineRequest, transport: Transport) {
        self.id = SessionID.make()
        self.core = core
        self.eventLoop = eventLoop
        self.request = request.compacted()
        self.transport = transport
        let configuration = core.configuration
        self.heartbeat = HeartbeatStateMachine(
            interval: TimeAmount(configuration.pingInterval),
            timeout: TimeAmount(configuration.pingTimeout)
        )
        if case .polling = transport, configuration.allowUpgrades, configuration.transports.contains(.websocket) {
            self.upgrade = UpgradeStateMachine(timeout: TimeAmount(configuration.upgradeTimeout))
        }
        self.flusher = core.flusher(for: eventLoop)
        self.maxQueuedPackets = configuration.maxQueuedPackets
    }

    /// Completes with the reason once the session has ended.
    public var closeFuture: EventLoopFuture<EngineCloseReason> {
        closing.withLock { closing in
            if let reason = closing.reason { return eventLoop.makeSucceededFuture(reason) }
            if let promise = closing.promise { return promise.futureResult }
            let promise = eventLoop.makePromise(of: EngineCloseReason.self)
            closing.promise = promise
            return promise.futureResult
        }
    }

    /// The transport the session currently uses. Call on ``eventLoop`` only (as in handler callbacks).
    public var transportKind: EngineTransportKind {
        eventLoop.preconditionInEventLoop()
        switch transport {
        case .polling: return .polling
        case .websocket: return .websocket
        }
    }

    /// Queues a message for the client.
    ///
    /// Messages go out in the order they were sent. A text message must not contain the
    /// record separator U+001E (it could not travel over polling): such a message is refused.
    /// - Returns: `false` when the message was refused or the session is already closing.
    @discardableResult
    public func send(_ message: EngineMessage) -> Bool {
        if case .text(let text) = message, text.readableBytesView.contains(PollingPayloadCodec.separator) {
            logger.debug("refusing to send a text message containing U+001E")
            return false
        }
        if eventLoop.inEventLoop { return enqueue(.packet(.message(message))) }
        eventLoop.execute { _ = self.enqueue(.packet(.message(message))) }
        return true
    }

    /// Queues a message prepared once for many sessions (see ``PreparedMessage``).
    ///
    /// - Returns: `false` when the message was refused (a text containing U+001E) or the
    ///   session is already closing.
    @discardableResult
    public func send(_ message: PreparedMessage) -> Bool {
        guard message.isSendable else {
            logger.debug("refusing to send a text message containing U+001E")
            return false
        }
        if eventLoop.inEventLoop { return enqueue(.prepared(message)) }
        eventLoop.execute { _ = self.enqueue(.prepared(message)) }
        return true
    }

    /// Queues a prepared message only if the client can take it now, like
    /// ``sendVolatile(_:)-(EngineMessage)``.
    @discardableResult
    public func sendVolatile(_ message: PreparedMessage) -> Bool {
        guard message.isSendable else { return false }
        guard eventLoop.inEventLoop else {
            eventLoop.execute { _ = self.sendVolatile(message) }
            return false
        }
        guard isReadyForVolatile else { return false }
        return enqueue(.prepared(message))
    }

    /// Queues a message only if the client can take it now (a WebSocket below its high-water
    /// mark, or a held GET); otherwise drops it.
    ///
    /// For data that is worthless when late (positions, typing indicators).
    /// - Returns: whether the message was queued; `false` from off the event loop means it was
    ///   handed to the loop, which may still drop it.
    @discardableResult
    public func sendVolatile(_ message: EngineMessage) -> Bool {
        if case .text(let text) = message, text.readableBytesView.contains(PollingPayloadCodec.separator) { return false }
        guard eventLoop.inEventLoop else {
            eventLoop.execute { _ = self.sendVolatile(message) }
            return false
        }
        guard isReadyForVolatile else { return false }
        return enqueue(.packet(.message(message)))
    }

    private var isReadyForVolatile: Bool {
        guard case .open = phase else { return false }
        switch transport {
        case .websocket(let socket): return socket.isWritable
        case .polling(let polling): return polling.pendingGet != nil && upgrade?.isDraining != true
        }
    }

    /// Closes the session from the server side with reason `forced close`; the client is told
    /// with a close packet where the transport allows.
    public func close() {
        close(reason: EngineCloseReason(.forcedClose))
    }

    /// Closes the session from the server side for `reason` (e.g. `parse error` when an upper
    /// layer found the client's packets malformed). See `Protocol/engine.md` § 9.2.
    public func close(reason: EngineCloseReason) {
        onLoop { $0.close(reason) }
    }

    /// Runs `body` on the session's event loop, at once when already there.
    func onLoop(_ body: @escaping @Sendable (EngineSession) -> Void) {
        if eventLoop.inEventLoop {
            body(self)
        } else {
            eventLoop.execute { body(self) }
        }
    }

    // MARK: Opening

    /// Answers the handshake GET with the open packet and starts the session.
    func openPolling(handshakeResponder: HTTPResponder) {
        eventLoop.preconditionInEventLoop()
        var body = handshakeResponder.channel.allocator.buffer(capacity: 160)
        PollingPayloadCodec.encode(CollectionOfOne(.open(handshake(upgrades: upgrade == nil ? [] : [.websocket]))), into: &body)
        handshakeResponder.respond(payload: body)
        started()
    }

    /// Writes the open packet as the WebSocket's first frame and starts the session.
    func openWebSocket() {
        eventLoop.preconditionInEventLoop()
        guard case .websocket(let socket) = transport else { preconditionFailure("not a WebSocket session") }
        socket.write(CollectionOfOne(.packet(.open(handshake(upgrades: [])))))
        started()
    }

    private func handshake(upgrades: [EngineTransportKind]) -> EngineHandshake {
        let configuration = core.configuration
        return EngineHandshake(
            sid: id,
            upgrades: upgrades,
            pingInterval: configuration.pingInterval,
            pingTimeout: configuration.pingTimeout,
            maxPayload: configuration.maxPayloadBytes
        )
    }

    private func started() {
        logger.debug("session opened", metadata: ["parley.transport": "\(transportKind)"])
        apply(heartbeat.sessionOpened(now: eventLoop.now))
        core.handler.sessionOpened(self)
    }

    // MARK: Inbound packets (both transports)

    /// Handles one packet the client sent on the session's current transport.
    ///
    /// - Returns: the violation that ended the session, if one did.
    @discardableResult
    func packetReceived(_ packet: EnginePacket) -> EngineCloseReason? {
        guard case .open = phase else { return nil }
        switch packet {
        case .message(let message):
            core.handler.session(self, received: message)
        case .pong:
            apply(heartbeat.pongReceived(now: eventLoop.now))
        case .close:
            close(EngineCloseReason(.transportClose, detail: "client sent close"))
        case .ping:
            let reason = EngineCloseReason(.transportError, detail: "client sent a ping; in v4 the server pings")
            close(reason)
            return reason
        case .noop:
            break
        case .open, .upgrade:
            let reason = EngineCloseReason(.transportError, detail: "client sent an unexpected \(packet.typeName) packet")
            close(reason)
            return reason
        }
        return nil
    }

    // MARK: Outbound queue

    func enqueue(_ packet: OutboundPacket) -> Bool {
        eventLoop.assertInEventLoop()
        guard case .open = phase else { return false }
        // The common case on a WebSocket: nothing queued and room in the connection. The frame
        // goes to the channel at once and only the flush waits for the end of the tick.
        if outbound.isEmpty, case .websocket(let socket) = transport, socket.isWritable, socket.writeWithoutFlush(packet) {
            webSocketUnflushed = true
            flusher.wrote(self)
            return true
        }
        guard outbound.count < maxQueuedPackets else {
            close(EngineCloseReason(.slowConsumer, detail: "\(outbound.count) packets queued"))
            return false
        }
        let size = packet.byteCount
        guard outboundBytes + size <= core.configuration.maxQueuedBytes else {
            close(EngineCloseReason(.slowConsumer, detail: "\(outboundBytes + size) bytes queued"))
            return false
        }
        outboundBytes += size
        outbound.append(packet)
        scheduleFlush()
        return true
    }

    /// Arranges one flush at the end of this event-loop tick, so that packets sent together
    /// leave together. The sessions of one loop share one scheduled task per tick.
    func scheduleFlush() {
        guard !flushScheduled else { return }
        flushScheduled = true
        flusher.schedule(self)
    }

    /// Moves queued packets to the transport if it can take them now.
    func flush() {
        flushScheduled = false
        if webSocketUnflushed {
            webSocketUnflushed = false
            if case .websocket(let socket) = transport { socket.flush() }
        }
        guard !outbound.isEmpty else { return }
        switch transport {
        case .websocket(let socket):
            // Leave packets queued (bounded) while the connection is above its high-water mark.
            guard socket.isWritable else { return }
            socket.write(outbound)
            clearOutbound()
        case .polling(var polling):
            guard upgrade?.isDraining != true, let responder = polling.pendingGet else { return }
            polling.pendingGet = nil
            let body = respond(responder, with: outbound)
            polling.lastAnswer = polling.pendingKey.map { ($0, body) }
            polling.pendingKey = nil
            transport = .polling(polling)
            clearOutbound()
            if case .closing(let reason, _) = phase { finish(reason) }
        }
    }

    /// Empties the queue once its packets are written. A small array keeps its storage for the
    /// next burst; a large one (a client that fell far behind once) gives it back.
    func clearOutbound() {
        outbound.removeAll(keepingCapacity: outbound.count <= 64)
        outboundBytes = 0
    }

    @discardableResult
    func respond(_ responder: HTTPResponder, with packets: some Sequence<OutboundPacket>) -> ByteBuffer {
        var body = responder.channel.allocator.buffer(capacity: 256)
        PollingPayloadCodec.encode(packets.lazy.map(\.enginePacket), into: &body)
        responder.respond(payload: body)
        return body
    }
}

/// One entry of a session's outbound queue.
enum OutboundPacket {
    /// A packet of this session's own, framed when it is written.
    case packet(EnginePacket)
    /// A message framed once for all its recipients.
    case prepared(PreparedMessage)

    /// The bytes this packet's message occupies (control packets count a few).
    var byteCount: Int {
        switch self {
        case .packet(.message(.text(let text))): text.readableBytes + 1
        case .packet(.message(.binary(let bytes))): bytes.readableBytes + 1
        case .packet: 8
        case .prepared(let prepared): prepared.webSocketFrame.readableBytes
        }
    }

    var enginePacket: EnginePacket {
        switch self {
        case .packet(let packet): packet
        case .prepared(let prepared): .message(prepared.message)
        }
    }
}

extension EnginePacket {
    var typeName: String {
        switch self {
        case .open: "open"
        case .close: "close"
        case .ping: "ping"
        case .pong: "pong"
        case .message: "message"
        case .upgrade: "upgrade"
        case .noop: "noop"
        }
    }
}
