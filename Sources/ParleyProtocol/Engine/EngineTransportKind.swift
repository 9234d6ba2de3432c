/// The two Engine.IO v4 transports Parley speaks.
public enum EngineTransportKind: String, Sendable, Hashable, CaseIterable {
    /// HTTP long-polling: GET receives, POST sends.
    case polling
    /// One WebSocket carries packets both ways.
    case websocket
}
