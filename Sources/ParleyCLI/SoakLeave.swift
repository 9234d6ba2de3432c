/// How a soak client leaves the server.
enum SoakLeave: String, CaseIterable, Sendable {
    /// Socket.IO DISCONNECT, then the engine close packet (polling) or a WebSocket close frame;
    /// the server ends the connection.
    case clean = "clean_close"
    /// Close with SO_LINGER 0: the server's connection is reset (RST), without a goodbye.
    case reset
    /// Stop reading the socket (and so stop answering pings): the server must close the session
    /// by its heartbeat or slow-consumer rule while its writes pile up unread.
    case stopReading = "stop_reading"
    /// Keep reading and sending, never answer a ping: the server must close for `ping timeout`.
    case pingTimeout = "ping_timeout"

    /// Whether the server, not the client, ends the session on this path.
    var serverCloses: Bool {
        switch self {
        case .clean, .reset: false
        case .stopReading, .pingTimeout: true
        }
    }
}
