public import ParleyEngine

/// Settings of a Socket.IO server.
public struct SocketServerConfiguration: Sendable {
    /// The Engine.IO settings underneath; the path defaults to `/socket.io/`.
    public var engine: EngineConfiguration
    /// How long a new connection may take to join its first namespace before it is closed.
    public var connectTimeout: Duration = .seconds(45)
    /// The most binary attachments one packet may announce.
    public var maxAttachments: Int = 10

    /// Creates the default configuration.
    public init() {
        var engine = EngineConfiguration()
        engine.path = "/socket.io/"
        self.engine = engine
    }
}
