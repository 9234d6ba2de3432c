public import ParleyEngine

/// Why a socket left its namespace. The descriptions are the reference server's reason strings.
public struct SocketDisconnectReason: Sendable, Hashable, CustomStringConvertible {
    /// The kind of ending. New codes may be added without breaking callers.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case clientNamespaceDisconnect = "client namespace disconnect"
            case serverNamespaceDisconnect = "server namespace disconnect"
            case transportClose = "transport close"
            case transportError = "transport error"
            case pingTimeout = "ping timeout"
            case parseError = "parse error"
            case forcedClose = "forced close"
            case forcedServerClose = "forced server close"
            case serverShuttingDown = "server shutting down"
            case payloadTooLarge = "payload too large"
            case slowConsumer = "slow consumer"
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The client left this namespace (`41`); its other namespaces stay.
        public static let clientNamespaceDisconnect = Code(.clientNamespaceDisconnect)
        /// The server removed the socket from the namespace; the client will not reconnect.
        public static let serverNamespaceDisconnect = Code(.serverNamespaceDisconnect)
        /// The client closed the connection or it went away.
        public static let transportClose = Code(.transportClose)
        /// The transport failed or the client broke the transport rules.
        public static let transportError = Code(.transportError)
        /// The client stopped answering pings.
        public static let pingTimeout = Code(.pingTimeout)
        /// The client sent a malformed packet; its whole connection was closed.
        public static let parseError = Code(.parseError)
        /// The server closed the underlying connection.
        public static let forcedClose = Code(.forcedClose)
        /// Another socket of the same connection was disconnected with `close: true`.
        public static let forcedServerClose = Code(.forcedServerClose)
        /// The server is shutting down.
        public static let serverShuttingDown = Code(.serverShuttingDown)
        /// The client sent a message above the payload limit (Parley extension).
        public static let payloadTooLarge = Code(.payloadTooLarge)
        /// The client did not read fast enough (Parley extension).
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

    /// The socket-level reason for a connection that ended for `reason`.
    public init(_ reason: EngineCloseReason) {
        let code: Code
        switch reason.code {
        case .transportClose: code = .transportClose
        case .transportError: code = .transportError
        case .pingTimeout: code = .pingTimeout
        case .parseError: code = .parseError
        case .serverShuttingDown: code = .serverShuttingDown
        case .payloadTooLarge: code = .payloadTooLarge
        case .slowConsumer: code = .slowConsumer
        default: code = .forcedClose
        }
        self.init(code, detail: reason.detail)
    }

    public var description: String {
        detail.map { "\(code) (\($0))" } ?? code.description
    }
}
