import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket
import ParleyProtocol
import Synchronization

/// One Engine.IO connection from the client side: the handshake on the chosen transport, the
/// heartbeat watchdog, the polling → WebSocket upgrade, and ordered sending.
///
/// ``run()`` drives everything in child tasks of its own task group and returns when the
/// connection is over; ``events`` reports what happened, ending with `.closed`.
actor EngineClientConnection {
    enum Event: Sendable {
        /// The handshake arrived on this transport.
        case opened(EngineHandshake, EngineTransportKind)
        /// The session moved to the WebSocket.
        case upgraded
        /// An application message arrived.
        case message(EngineMessage)
        /// The connection ended; nothing follows.
        case closed(ClientCloseReason, receivedAnything: Bool)
    }

    enum Active {
        case none
        case polling
        case websocket(NIOAsyncChannelOutboundWriter<WebSocketFrame>)
    }

    nonisolated let events: AsyncStream<Event>
    let eventSink: AsyncStream<Event>.Continuation
    let polling: PollingClient
    let connector: WebSocketConnector
    let configuration: SocketClientConfiguration
    let startWithWebSocket: Bool
    let allowUpgrade: Bool
    var logger: Logger

    var sid: String?
    var handshake: EngineHandshake?
    var active = Active.none
    /// Packets waiting for the writer; filled from any thread by ``send(_:)``.
    nonisolated let outbox = NIOLockedValueBox<Outbox>(Outbox())
    var writing = false
    var heartbeat: ClientHeartbeatStateMachine?
    var closed = false
    var closingByClient = false
    var receivedAfterOpen = false
    /// Polling stops issuing GETs while an upgrade switches transports.
    var pollingPaused = false
    var pollInFlight = false
    private nonisolated let waiters = Mutex<[CheckedContinuation<Void, Never>]>([])
    let writerSignal: AsyncStream<Void>.Continuation
    private let writerWakeups: AsyncStream<Void>
    /// Told when the outbox passes its bound; the connection then ends.
    private let overflowSignal: AsyncStream<Int>.Continuation
    private let overflows: AsyncStream<Int>

    init(polling: PollingClient, connector: WebSocketConnector, configuration: SocketClientConfiguration, startWithWebSocket: Bool, allowUpgrade: Bool, logger: Logger) {
        (events, eventSink) = AsyncStream.makeStream(of: Event.self)
        (writerWakeups, writerSignal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (overflows, overflowSignal) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingNewest(1))
        self.polling = polling
        self.connector = connector
        self.configuration = configuration
        self.startWithWebSocket = startWithWebSocket
        self.allowUpgrade = allowUpgrade
        self.logger = logger
    }

    /// Opens the connection and runs it until it ends.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            if startWithWebSocket {
                group.addTask { await self.webSocketSession(sid: nil) }
            } else {
                group.addTask { await self.pollingSession() }
            }
            group.addTask { await self.watchdog() }
            group.addTask { await self.writer() }
            group.addTask { await self.watchOutbox() }
            if allowUpgrade && !startWithWebSocket {
                group.addTask { await self.upgrade() }
            }
            await waitUntil { $0.closed }
            if !closed { await close() }  // cancelled: leave politely
            group.cancelAll()
        }
    }

    /// Queues messages; they leave in order on whichever transport is current. Callable from
    /// anywhere without waiting.
    nonisolated func send(_ messages: [EngineMessage]) {
        let limit = configuration.maxQueuedBytes
        let overflow = outbox.withLockedValue { outbox in
            for message in messages { outbox.append(.message(message)) }
            return outbox.bytes > limit ? outbox.bytes : nil
        }
        // A server that stopped reading: the writer is parked on backpressure.
        if let overflow { overflowSignal.yield(overflow) }
        writerSignal.yield()
    }

    /// Ends the connection when the outbox passes its bound.
    private func watchOutbox() async {
        for await bytes in overflows {
            finish(ClientCloseReason(.transportError, detail: "\(bytes) bytes queued: the server is not reading"))
        }
    }

    /// Closes the connection from this side (`io client disconnect`), telling the server.
    func close() async {
        guard !closed else { return }
        closingByClient = true
        switch active {
        case .websocket(let writer):
            // Best effort, and bounded: a server that stopped reading holds the write forever.
            _ = try? await withDeadline(.seconds(2)) { try await writer.write(Self.frame(.close)) }
        case .polling:
            if let sid { try? await polling.post([.close], sid: sid, timeout: .seconds(2)) }  // best effort, as above
        case .none:
            break
        }
        finish(ClientCloseReason(.clientDisconnect))
    }

    // MARK: Shared machinery

    func send(packet: EnginePacket) {
        guard !closed else { return }
        outbox.withLockedValue { $0.append(packet) }
        writerSignal.yield()
    }


    /// Ends the connection once, reporting `reason` — or `io client disconnect` once the
    /// application asked to close, whatever the transport reports while it goes.
    func finish(_ reason: ClientCloseReason) {
        guard !closed else { return }
        let reason = closingByClient ? ClientCloseReason(.clientDisconnect) : reason
        closed = true
        logger.debug("engine connection closed", metadata: ["parley.reason": "\(reason)"])
        if case .websocket(let writer) = active { writer.finish() }
        active = .none
        eventSink.yield(.closed(reason, receivedAnything: receivedAfterOpen))
        eventSink.finish()
        writerSignal.finish()
        overflowSignal.finish()
        changed()
    }

    /// Wakes every task waiting in ``waitUntil(_:)`` to re-check its condition.
    func changed() {
        resumeWaiters()
    }

    nonisolated private func resumeWaiters() {
        let resumed = waiters.withLock { waiters in
            defer { waiters.removeAll() }
            return waiters
        }
        for waiter in resumed { waiter.resume() }
    }

    /// Suspends until `condition` holds (re-checked after each ``changed()``), the connection
    /// closed, or the task is cancelled.
    func waitUntil(_ condition: (isolated EngineClientConnection) -> Bool) async {
        while !condition(self) && !closed && !Task.isCancelled {
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    waiters.withLock { $0.append(continuation) }
                    if Task.isCancelled { resumeWaiters() }
                }
            } onCancel: {
                resumeWaiters()
            }
        }
    }

    /// Handles one packet from the server on the current transport.
    func packetReceived(_ packet: EnginePacket) {
        guard !closed else { return }
        switch packet {
        case .open(let handshake):
            opened(handshake, on: startWithWebSocket ? .websocket : .polling)
        case .ping:
            if let action = heartbeat?.pingReceived(now: .now()), case .sendPong = action {
                send(packet: .pong(""))
            }
            changed()
        case .message(let message):
            receivedAfterOpen = true
            eventSink.yield(.message(message))
        case .close:
            finish(ClientCloseReason(.transportClose, detail: "the server closed the session"))
        case .noop, .pong, .upgrade:
            break
        }
    }

    private func opened(_ handshake: EngineHandshake, on transport: EngineTransportKind) {
        guard self.handshake == nil else { return }
        self.handshake = handshake
        sid = handshake.sid
        logger[metadataKey: "parley.sid"] = "\(handshake.sid)"
        var heartbeat = ClientHeartbeatStateMachine(
            pingInterval: TimeAmount(handshake.pingInterval),
            pingTimeout: TimeAmount(handshake.pingTimeout)
        )
        _ = heartbeat.opened(now: .now())
        self.heartbeat = heartbeat
        eventSink.yield(.opened(handshake, transport))
        changed()
    }

    /// Closes the connection when the handshake does not come within `connectTimeout`, or
    /// later when no ping comes within `pingInterval + pingTimeout`.
    private func watchdog() async {
        let openBy = NIODeadline.now() + TimeAmount(configuration.connectTimeout)
        while !closed, !Task.isCancelled {
            guard let deadline = heartbeat?.nextDeadline else {
                guard heartbeat == nil else { return }
                let wait = openBy - .now()
                guard wait > .zero else {
                    finish(ClientCloseReason(.transportError, detail: "no handshake within \(configuration.connectTimeout)"))
                    return
                }
                // Until the handshake, or the connect deadline: the handshake brings a much
                // earlier deadline (pingInterval + pingTimeout) that the watchdog must keep.
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { try? await Task.sleep(nanoseconds: UInt64(wait.nanoseconds)) }
                    group.addTask { await self.waitForHandshake() }
                    await group.next()
                    group.cancelAll()
                }
                continue
            }
            let wait = deadline - .now()
            if wait > .zero {
                try? await Task.sleep(nanoseconds: UInt64(wait.nanoseconds))
                continue
            }
            if case .close? = heartbeat?.timerFired(now: .now()) {
                finish(ClientCloseReason(.pingTimeout))
            }
        }
    }

    private func waitForHandshake() async {
        await waitUntil { $0.heartbeat != nil }
    }

    /// Sends queued packets, one batch at a time, on the current transport.
    private func writer() async {
        for await _ in writerWakeups {
            while !outbox.withLockedValue({ $0.packets.isEmpty }) && !closed {
                switch active {
                case .none:
                    break
                case .polling:
                    guard !pollingPaused, let sid else { break }
                    let batch = outbox.withLockedValue { $0.takeAll() }
                    writing = true
                    do {
                        try await polling.post(batch, sid: sid, timeout: configuration.connectTimeout)
                    } catch {
                        finish(ClientCloseReason(.transportError, detail: "POST failed: \(error)"))
                    }
                    outbox.withLockedValue { $0.written() }
                    writing = false
                    changed()
                    continue
                case .websocket(let writer):
                    let batch = outbox.withLockedValue { $0.takeAll() }
                    do {
                        try await writer.write(contentsOf: batch.map(Self.frame))
                    } catch {
                        finish(ClientCloseReason(.transportError, detail: "WebSocket write failed: \(error)"))
                    }
                    outbox.withLockedValue { $0.written() }
                    continue
                }
                break
            }
        }
    }

    static func frame(_ packet: EnginePacket) -> WebSocketFrame {
        switch EnginePacketCodec.encode(packet, allocator: ByteBufferAllocator()) {
        case .text(let bytes): WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: bytes)
        case .binary(let bytes): WebSocketFrame(fin: true, opcode: .binary, maskKey: .random(), data: bytes)
        }
    }
}

/// Packets waiting for the connection's writer, with their size in bytes — those the writer
/// has taken but not yet written included, so a batch parked on a server that stopped reading
/// still counts against the bound.
struct Outbox {
    private(set) var packets: [EnginePacket] = []
    /// Bytes queued and bytes taken by the writer whose write has not returned.
    private(set) var bytes = 0
    private var inFlight = 0

    mutating func append(_ packet: EnginePacket) {
        packets.append(packet)
        if case .message(let message) = packet {
            switch message {
            case .text(let text): bytes += text.readableBytes
            case .binary(let data): bytes += data.readableBytes
            }
        }
    }

    /// Takes every queued packet for the writer; their bytes count until ``written()``.
    mutating func takeAll() -> [EnginePacket] {
        bytes -= inFlight
        inFlight = bytes
        defer { packets = [] }
        return packets
    }

    /// The writer's last batch went out (or failed).
    mutating func written() {
        bytes -= inFlight
        inFlight = 0
    }
}
