/// Why an Engine.IO session ended. The descriptions are the reference server's reason strings.
///
/// See `Protocol/engine.md` § Close reasons.
public struct EngineCloseReason: Sendable, Hashable, CustomStringConvertible {
    /// The kind of ending. New codes may be added without breaking callers.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case transportClose = "transport close"
            case transportError = "transport error"
            case pingTimeout = "ping timeout"
            case parseError = "parse error"
            case forcedClose = "forced close"
            case serverShuttingDown = "server shutting down"
            case payloadTooLarge = "payload too large"
            case slowConsumer = "slow consumer"
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The client closed the session (`1`), or its connection went away.
        public static let transportClose = Code(.transportClose)
        /// The transport failed or the client broke the transport rules (e.g. a second GET).
        public static let transportError = Code(.transportError)
        /// No pong arrived within `pingTimeout`.
        public static let pingTimeout = Code(.pingTimeout)
        /// The client sent bytes that are not Engine.IO packets.
        public static let parseError = Code(.parseError)
        /// The server closed the session.
        public static let forcedClose = Code(.forcedClose)
        /// The server is shutting down.
        public static let serverShuttingDown = Code(.serverShuttingDown)
        /// The client sent a WebSocket message larger than `maxPayloadBytes`.
        public static let payloadTooLarge = Code(.payloadTooLarge)
        /// The client did not read fast enough and the outbound queue reached its bound.
        public static let slowConsumer = Code(.slowConsumer)

        public var description: String { base.rawValue }
    }

    /// The kind of ending.
    public var code: Code
    /// What exactly happened, for logs.
    public var detail: String?

    /// Creates a reason.
    public init(_ code: Code, detail: String? = nil) {
        self.code = code
        self.detail = detail
    }

    public var description: String {
        detail.map { "\(code) (\($0))" } ?? code.description
    }
}
