import ArgumentParser

/// The transport the load generator's clients use.
enum BenchTransport: String, ExpressibleByArgument, CaseIterable, Sendable {
    case websocket
    case polling
    /// Opens on long-polling, then upgrades to WebSocket (the probe upgrade, Protocol/engine.md §7).
    case upgrade

    /// The `transport` query value of the requests that open the session.
    var engineName: String {
        switch self {
        case .websocket: "websocket"
        case .polling, .upgrade: "polling"
        }
    }
}
