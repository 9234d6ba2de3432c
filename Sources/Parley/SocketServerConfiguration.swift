public import ParleyEngine

/// Settings of a Socket.IO server.
public struct SocketServerConfiguration: Sendable {
    /// The Engine.IO settings underneath; the path defaults to `/socket.io/`.
    public var engine: EngineConfiguration
    /// How long a new connection may take to join its first namespace before it is closed.
    public var connectTimeout: Duration = .seconds(45)
    /// The most binary attachments one packet may announce.
    public var maxAttachments: Int = 10
    /// The most namespaces created on demand from client-chosen names (`of(matching:)`) that
    /// exist at once; a CONNECT past it is refused. An empty one is removed when its last
    /// socket leaves.
    public var maxDynamicNamespaces: Int = 1_000
    /// The most `on(_:answer:)` handlers and middlewares running at once for one connection;
    /// an event past it closes that connection (`forced close`), since its client sends faster
    /// than the application answers.
    public var maxPendingHandlersPerConnection: Int = 256
    /// Connection state recovery; `nil` (off) by default.
    public var connectionStateRecovery: ConnectionStateRecovery?
    /// Reliable delivery (per-user queues, room histories, idempotent client emits); `nil`
    /// (off) by default.
    public var reliableDelivery: ReliableDelivery?
    /// Whether the server serves Parley's browser client, `parley.js`, at `/parley.js` on its
    /// port (on by default), so a page needs no copy of its own:
    /// `import { io } from "http://127.0.0.1:3000/parley.js"`. The script is compiled into
    /// the server; it is served with `Access-Control-Allow-Origin: *` (pages of any origin may
    /// import it) and an entity tag, so browsers revalidate it rather than download it again.
    /// A document the application puts at that path in ``EngineConfiguration/staticFiles``
    /// is served instead. See `Protocol/engine.md` § 13.
    public var servesClientScript: Bool = true

    /// Creates the default configuration.
    public init() {
        var engine = EngineConfiguration()
        engine.path = "/socket.io/"
        self.engine = engine
    }
}
