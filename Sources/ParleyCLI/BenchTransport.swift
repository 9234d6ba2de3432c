import ArgumentParser

/// The transport the load generator's clients use.
enum BenchTransport: String, ExpressibleByArgument, CaseIterable, Sendable {
    case websocket
    case polling
}
