public import NIOHTTP1
public import NIOSSL
public import ParleyProtocol

/// Settings of a ``SocketManager``: one connection to one Socket.IO server.
///
/// The defaults are the official JS client's.
public struct SocketClientConfiguration: Sendable {
    /// Which transports to use and in what order.
    public enum Transports: Sendable, Hashable {
        /// Open with HTTP long-polling, then upgrade to WebSocket if the probe works (the JS default).
        case pollingThenUpgrade
        /// HTTP long-polling only.
        case pollingOnly
        /// WebSocket only.
        case webSocketOnly
        /// Open with WebSocket; if it fails or stays silent, fall back to polling.
        case webSocketFirst
    }

    /// The endpoint path.
    public var path: String = "/socket.io/"
    /// Extra query parameters sent on every request.
    public var query: [String: String] = [:]
    /// Extra headers sent on every request (polling and the WebSocket handshake).
    public var headers: HTTPHeaders = [:]
    /// The transport strategy.
    public var transports: Transports = .pollingThenUpgrade
    /// How long opening a connection (through the Engine.IO handshake) may take.
    public var connectTimeout: Duration = .seconds(20)
    /// How long the upgrade probe (`2probe` → `3probe`) may take before the client stays on polling.
    public var upgradeTimeout: Duration = .seconds(3)
    /// Whether to reconnect after a connection is lost.
    public var reconnection: Bool = true
    /// The reconnection schedule.
    public var backoff = ReconnectBackoff()
    /// The default timeout of `emitWithAck`.
    public var ackTimeout: Duration = .seconds(10)
    /// How many times `emitWithAck` re-sends an event whose ack timed out (the JS `retries`).
    public var retries: Int = 0
    /// The most emits kept while disconnected; one more throws ``EmitBufferFullError``.
    public var maxBufferedEmits: Int = 1_000
    /// The most events kept that arrive before the CONNECT reply (a recovery replays what the
    /// socket missed there). One more and the recovery is given up: the events are dropped,
    /// and the socket connects with ``ClientSocket/recovered`` `false`, so the application
    /// knows to reload its state instead of silently missing messages.
    public var maxEventsBeforeConnect: Int = 100_000
    /// The most bytes of messages waiting for the connection while connected (a server that
    /// stops reading); past it the connection is closed (`transport error`) and the manager
    /// reconnects.
    public var maxQueuedBytes: Int = 8 * 1024 * 1024
    /// TLS settings for `https` / `wss` (trust roots, client certificate) on both transports;
    /// `nil` uses the system's trust roots.
    public var tlsConfiguration: TLSConfiguration?
    /// Reliable delivery (`Protocol/reliable.md` § 6): the store and limits of the durable
    /// outbox, inbound de-duplication and room positions; `nil` (the default) for none. With
    /// it, every CONNECT carries the store's `deviceId`.
    public var reliable: ClientReliability?

    /// Creates the default configuration.
    public init() {}
}

/// Emits were buffered while disconnected up to ``SocketClientConfiguration/maxBufferedEmits``.
public struct EmitBufferFullError: Error, Sendable, CustomStringConvertible {
    public var limit: Int
    public var description: String { "the emit buffer is full (\(limit) emits waiting for a connection)" }
}

/// No acknowledgement arrived in time (after every retry).
public struct ClientAckTimeoutError: Error, Sendable, CustomStringConvertible {
    public var event: String
    public var description: String { "no acknowledgement of \"\(event)\"" }
}

/// The server refused to let this socket join its namespace.
public struct ConnectRefusedError: Error, Sendable, CustomStringConvertible {
    /// The server's message (`err.message`).
    public var message: String
    /// The server's extra data as JSON, if any (`err.data`).
    public var dataJSON: String?
    public var description: String { "connection refused: \(message)" + (dataJSON.map { " \($0)" } ?? "") }
}
