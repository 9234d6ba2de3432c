/// A refusal a middleware sends to the client as `CONNECT_ERROR {"message", "data"}`.
///
/// Only this error crosses the wire with its own message; any other error thrown by a
/// middleware is logged and the client sees a generic message.
///
/// ```swift
/// namespace.use { handshake in
///     guard handshake.auth(as: Credentials.self)?.token == "secret" else {
///         throw ConnectError("not authorized", data: ["retryAfter": 10])
///     }
/// }
/// ```
public struct ConnectError: Error, Sendable {
    /// The message the client sees (`err.message` in the JS client).
    public var message: String
    /// Extra JSON the client sees as `err.data`, if any.
    public var data: (any Encodable & Sendable)?

    /// Creates a refusal.
    public init(_ message: String, data: (any Encodable & Sendable)? = nil) {
        self.message = message
        self.data = data
    }
}

/// No acknowledgement arrived within the timeout of an `emitWithAck`.
public struct AckTimeoutError: Error, Sendable, CustomStringConvertible {
    /// The event that was not acknowledged.
    public var event: String
    /// The ids of the sockets that did not answer (one for a single-socket emit).
    public var missing: [String]
    /// The answers that did arrive, for a broadcast.
    public var received: [SocketAck]

    public var description: String {
        "no acknowledgement of \"\(event)\" from \(missing.joined(separator: ", "))"
    }
}

/// The socket left before it acknowledged an `emitWithAck`.
public struct SocketDisconnectedError: Error, Sendable, CustomStringConvertible {
    public var reason: SocketDisconnectReason
    public var description: String { "socket disconnected: \(reason)" }
}
