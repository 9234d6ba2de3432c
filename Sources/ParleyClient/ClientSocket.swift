import Foundation
import Logging
public import ParleyProtocol
import Synchronization

/// A client's membership of one namespace: emit, listen, acknowledge.
///
/// ```swift
/// let chat = manager.socket("/chat", auth: .value(["token": token]))
/// chat.on("said") { event in print(try event.argument(0, as: String.self)) }
/// try chat.emit("say", "hello")
/// let answer = try await chat.emitWithAck("join", "lobby")
/// ```
public final class ClientSocket: Sendable {
    /// The namespace, e.g. `/` or `/chat`.
    public let namespace: String
    let manager: SocketManager
    let auth: ClientAuth
    let state: Mutex<ClientSocketState>
    /// Reads, once, the outbox items a previous run left for this namespace.
    let outboxLoad = AsyncOnce<Void>()
    /// Every event from the server, for `for await` users. Keeps the newest 1 000 events
    /// when nobody reads.
    public let events: AsyncStream<ClientEvent>
    let eventSink: AsyncStream<ClientEvent>.Continuation

    init(namespace: String, auth: ClientAuth, manager: SocketManager) {
        self.namespace = namespace
        self.auth = auth
        self.manager = manager
        var initial = ClientSocketState()
        if let reliability = manager.reliable?.configuration {
            initial.reliable = ReliableSocketState(outbox: OutboxStateMachine(
                namespace: namespace,
                window: reliability.window,
                retryDelay: reliability.retryDelay,
                maximumRetryDelay: reliability.maximumRetryDelay
            ))
        }
        state = Mutex(initial)
        (events, eventSink) = AsyncStream.makeStream(of: ClientEvent.self, bufferingPolicy: .bufferingNewest(1_000))
    }

    /// The socket id the server assigned, while connected.
    public var id: String? { state.withLock { $0.connected ? $0.sid : nil } }

    /// Whether the socket is in its namespace right now.
    public var isConnected: Bool { state.withLock { $0.connected } }

    /// Whether the last connect restored the previous session (connection state recovery).
    public var recovered: Bool { state.withLock { $0.recovered } }

    // MARK: Listening

    /// Runs `handler` for every event named `event`.
    public func on(_ event: String, _ handler: @escaping @Sendable (ClientEvent) throws -> Void) {
        state.withLock { $0.handlers[event] = handler }
    }

    /// Runs `handler` for events without a handler of their own.
    public func onAny(_ handler: @escaping @Sendable (ClientEvent) throws -> Void) {
        state.withLock { $0.catchAll = handler }
    }

    /// Runs `handler` each time the socket joins its namespace.
    public func onConnect(_ handler: @escaping @Sendable () -> Void) {
        state.withLock { $0.connectHandlers.append(handler) }
    }

    /// Runs `handler` each time the socket leaves its namespace.
    public func onDisconnect(_ handler: @escaping @Sendable (ClientCloseReason) -> Void) {
        state.withLock { $0.disconnectHandlers.append(handler) }
    }

    /// Runs `handler` when the server refuses the connection (middleware, unknown namespace).
    public func onConnectError(_ handler: @escaping @Sendable (ConnectRefusedError) -> Void) {
        state.withLock { $0.connectErrorHandlers.append(handler) }
    }

    // MARK: Emitting

    /// Sends an event. While disconnected it waits in a bounded buffer and goes out, in order,
    /// once connected.
    ///
    /// - Throws: ``EmitBufferFullError`` when the buffer is full; `EncodingError`.
    public func emit(_ event: String, _ arguments: any Encodable & Sendable...) throws {
        try send(try Self.eventPacket(event, arguments, namespace: namespace, ackID: nil), volatile: false)
    }

    /// Sends an event only if connected right now; otherwise drops it.
    public func emitVolatile(_ event: String, _ arguments: any Encodable & Sendable...) throws {
        try send(try Self.eventPacket(event, arguments, namespace: namespace, ackID: nil), volatile: true)
    }

    /// Sends an event and waits for the server's acknowledgement.
    ///
    /// - Parameters:
    ///   - timeout: how long to wait for each try (default: the configuration's `ackTimeout`).
    ///   - retries: how many times to send again after a timeout (default: the configuration's
    ///     `retries`); the server may then see the event more than once.
    /// - Throws: ``ClientAckTimeoutError`` after the last try, ``SocketDisconnectedClientError``
    ///   when the connection dropped during the last try; ``EmitBufferFullError``.
    public func emitWithAck(_ event: String, _ arguments: any Encodable & Sendable..., timeout: Duration? = nil, retries: Int? = nil) async throws -> SocketArguments {
        let timeout = timeout ?? manager.configuration.ackTimeout
        let tries = 1 + max(0, retries ?? manager.configuration.retries)
        var lastError: any Error = ClientAckTimeoutError(event: event)
        for _ in 0..<tries {
            let id = state.withLock { state in
                defer { state.nextAckID += 1 }
                return state.nextAckID
            }
            let packet = try Self.eventPacket(event, arguments, namespace: namespace, ackID: id)
            do {
                return try await withDeadline(timeout) {
                    try await self.awaitAck(id) { try self.send(packet, volatile: false) }
                }
            } catch is DeadlineExceeded {
                lastError = ClientAckTimeoutError(event: event)
            } catch let error as SocketDisconnectedClientError {
                // The ack cannot come on a later connection; a retry sends the event again.
                lastError = error
            }
        }
        throw lastError
    }

    private func awaitAck(_ id: UInt64, sending: @escaping @Sendable () throws -> Void) async throws -> SocketArguments {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                state.withLock { $0.pendingAcks[id] = continuation }
                do {
                    try sending()
                } catch {
                    state.withLock { $0.pendingAcks.removeValue(forKey: id) }?.resume(throwing: error)
                }
            }
        } onCancel: {
            state.withLock { $0.pendingAcks.removeValue(forKey: id) }?.resume(throwing: CancellationError())
        }
    }

    static func eventPacket(_ event: String, _ arguments: [any Encodable], namespace: String, ackID: UInt64?) throws -> SocketPacket {
        let (payload, attachments) = try SocketPayloadEncoder.encode(name: event, arguments: arguments)
        return SocketPacket(type: attachments.isEmpty ? .event : .binaryEvent, namespace: namespace, ackID: ackID, payload: payload, attachments: attachments)
    }

    private func send(_ packet: SocketPacket, volatile: Bool) throws {
        let limit = manager.configuration.maxBufferedEmits
        let sendNow = try state.withLock { state -> Bool in
            if state.connected, !state.drainingBuffer { return true }
            if volatile { return false }
            guard state.buffer.count < limit else { throw EmitBufferFullError(limit: limit) }
            state.buffer.append(packet)
            return false
        }
        if sendNow { manager.send(packet, bypassingBuffer: true) }
    }

    // MARK: Joining and leaving

    /// Joins the namespace (again) when the connection is open; sockets join by default.
    public func connect() {
        state.withLock { $0.wantsConnection = true }
        manager.socketWantsConnection(self)
    }

    /// Leaves the namespace (`io client disconnect`); the connection stays for other sockets.
    public func disconnect() {
        let wasConnected = state.withLock { state in
            state.wantsConnection = false
            return state.connected
        }
        if wasConnected { manager.send(SocketPacket(type: .disconnect, namespace: namespace), bypassingBuffer: true) }
        disconnected(ClientCloseReason(.clientDisconnect))
    }
}

/// The mutable part of a client socket.
struct ClientSocketState: Sendable {
    var wantsConnection = true
    var connected = false
    var sid: String?
    var pid: String?
    var lastOffset: String?
    var recovered = false
    var buffer: [SocketPacket] = []
    /// Connected, and the emits buffered while disconnected are still going out: new emits
    /// queue behind them.
    var drainingBuffer = false
    /// Events that arrived before the CONNECT reply, delivered once it comes.
    var receivedEarly: [SocketPacket] = []
    /// More events came before the CONNECT reply than the client keeps: the rest of them are
    /// dropped and the socket connects as not recovered.
    var gaveUpRecovery = false
    var nextAckID: UInt64 = 0
    var pendingAcks: [UInt64: CheckedContinuation<SocketArguments, any Error>] = [:]
    var handlers: [String: @Sendable (ClientEvent) throws -> Void] = [:]
    var catchAll: (@Sendable (ClientEvent) throws -> Void)?
    var connectHandlers: [@Sendable () -> Void] = []
    var disconnectHandlers: [@Sendable (ClientCloseReason) -> Void] = []
    var connectErrorHandlers: [@Sendable (ConnectRefusedError) -> Void] = []
    /// The outbox and room positions (`Protocol/reliable.md` § 6); unused without
    /// ``SocketClientConfiguration/reliable``.
    var reliable = ReliableSocketState(outbox: OutboxStateMachine(namespace: "/"))
}
