public import ParleyStore

/// Reliable delivery on the client side (`Protocol/reliable.md` § 6): the durable outbox of
/// ``ClientSocket/emitReliable(_:_:)``, de-duplication of the messages the server delivers with
/// a message id, and room positions for ``ClientSocket/history(room:limit:)``.
///
/// ```swift
/// var configuration = SocketClientConfiguration()
/// configuration.reliable = ClientReliability(store: SQLiteClientReliableStore(path: path))
/// let manager = try SocketManager(url: url, configuration: configuration)
/// let sent = try await manager.socket().emitReliable("send", message)  // kept before it returns
/// let answer = try await sent.answer()
/// ```
///
/// The manager opens the store when it first needs it (the first CONNECT or reliable emit);
/// the application closes it once the manager is done. One manager uses a store at a time.
public struct ClientReliability: Sendable {
    /// Where the device id, the outbox, the ids seen and the room positions are kept.
    public var store: any ClientReliableStore
    /// The most outbox emits sent and not yet acknowledged, per socket (at least 1).
    public var window: Int
    /// How many message ids, per namespace, are remembered to drop repeats.
    public var deduplicationWindow: Int
    /// How long an emit the server answered with `store_failed` waits before it is sent again;
    /// each further `store_failed` doubles it, up to ``maximumRetryDelay``.
    public var retryDelay: Duration
    /// The longest wait before an emit is sent again after `store_failed`.
    public var maximumRetryDelay: Duration

    /// Creates a configuration.
    ///
    /// - Parameters:
    ///   - store: The store; ``InMemoryClientReliableStore`` forgets everything when the app ends.
    ///   - window: Emits in flight per socket (default 32).
    ///   - deduplicationWindow: Message ids remembered per namespace (default 10 000).
    public init(store: any ClientReliableStore, window: Int = 32, deduplicationWindow: Int = 10_000) {
        self.store = store
        self.window = window
        self.deduplicationWindow = deduplicationWindow
        self.retryDelay = .seconds(1)
        self.maximumRetryDelay = .seconds(30)
    }
}
