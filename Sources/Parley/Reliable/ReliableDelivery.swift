public import ParleyStore

/// Reliable delivery: per-user queues that survive disconnects and restarts, room histories,
/// and client emits that take effect once (`Protocol/reliable.md`). Off by default.
///
/// ```swift
/// var configuration = SocketServerConfiguration()
/// configuration.reliableDelivery = ReliableDelivery(store: SQLiteReliableStore(path: "data/reliable.sqlite"))
/// let server = SocketServer(configuration: configuration)
/// server.of("/").use { handshake in handshake.identify(user: try verify(handshake)) }
/// // later, from anywhere:
/// let id = try await server.of("/").user("alice").reliable.emit("dm", message)
/// ```
public struct ReliableDelivery: Sendable {
    /// Where queues, histories and idempotency keys are kept.
    public var store: any ReliableStore
    /// The bounds of each user's queue and the policy past them.
    public var queueBounds = QueueBounds()
    /// The largest reliable message (payload and attachments); a larger one is refused with
    /// ``ReliableError/Code/tooLarge``.
    public var maxMessageBytes: Int = 1 << 20
    /// The most messages a socket has unacknowledged; the next go out as acks come back.
    public var deliveryWindow: Int = 64
    /// How long the server waits for a plain `on(_:_:)` handler to answer an event with an
    /// idempotency key through `event.ack` before it answers `handler_failed`. (A delivered
    /// message waits for its ack as long as the connection lasts: its window slot is held, and
    /// an unacknowledged message goes out again on the device's next connection.)
    public var handlerAnswerTimeout: Duration = .seconds(60)
    /// The most messages a room's history keeps; the oldest beyond it go.
    public var roomMaxMessages: Int = 10_000
    /// The most messages one history request returns.
    public var maxHistoryPage: Int = 1_000
    /// Whether a socket may read the history of a room it is not in (a socket may always read
    /// the rooms it is in).
    public var authorizeHistory: (@Sendable (Socket, String) async -> Bool)?
    /// The writer's and retention's settings: message age, device and key retention.
    public var log = ReliableLog.Configuration()

    /// Creates a configuration.
    ///
    /// - Parameter store: where everything is kept; in memory by default (lost with the
    ///   process — use `ParleySQLite.SQLiteReliableStore` to keep it across restarts).
    public init(store: any ReliableStore = InMemoryReliableStore()) {
        self.store = store
    }
}
