/// Why a client's connection (or one socket of it) ended. The descriptions are the JS
/// client's reason strings.
public struct ClientCloseReason: Sendable, Hashable, CustomStringConvertible {
    /// The kind of ending.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The server closed the connection, or it went away.
        public static let transportClose = Code("transport close")
        /// The transport failed (refused, reset, HTTP error, timeout while opening).
        public static let transportError = Code("transport error")
        /// No ping arrived within `pingInterval + pingTimeout`.
        public static let pingTimeout = Code("ping timeout")
        /// The server sent something that is not Engine.IO / Socket.IO.
        public static let parseError = Code("parse error")
        /// The application called `disconnect()`.
        public static let clientDisconnect = Code("io client disconnect")
        /// The server removed the socket from its namespace; it will not reconnect by itself.
        public static let serverDisconnect = Code("io server disconnect")

        public var description: String { name }
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

    public var description: String { detail.map { "\(code) (\($0))" } ?? code.description }

    /// Whether the manager reconnects after this ending (not after an explicit disconnect).
    var allowsReconnection: Bool {
        code != .clientDisconnect && code != .serverDisconnect
    }
}
