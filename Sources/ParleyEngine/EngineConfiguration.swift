public import ParleyProtocol
public import NIOCore
public import NIOHTTP1

/// Settings of an Engine.IO server. Every field has the reference server's default.
///
/// ```swift
/// var configuration = EngineConfiguration()
/// configuration.pingInterval = .milliseconds(300)
/// configuration.cors = .init(allowedOrigins: .any)
/// ```
public struct EngineConfiguration: Sendable {
    /// Where the server listens.
    public var address: BindAddress = .hostname("127.0.0.1", port: 3000)
    /// The request path of the endpoint; `/engine.io/` alone, `/socket.io/` under Socket.IO.
    /// The same path without its trailing slash is accepted too.
    public var path: String = "/engine.io/"
    /// How long the server waits after a pong before it pings again. Advertised exactly.
    public var pingInterval: Duration = .seconds(25)
    /// How long the server waits for a pong before it closes the session. Advertised exactly.
    public var pingTimeout: Duration = .seconds(20)
    /// How long a client has to finish a polling → WebSocket upgrade after its probe opened.
    public var upgradeTimeout: Duration = .seconds(10)
    /// The most bytes of request headers (names and values) accepted on a request; a larger
    /// request is answered `431` and its connection closed. Node's default, 16 KiB. A session
    /// keeps its opening request's headers, so this also bounds what each session holds.
    public var maxRequestHeaderBytes: Int = 16 * 1024
    /// The largest polling body or WebSocket message accepted, in bytes; advertised as `maxPayload`.
    public var maxPayloadBytes: Int = 1_000_000
    /// The transports clients may use.
    public var transports: Set<EngineTransportKind> = [.polling, .websocket]
    /// Whether polling sessions are offered the upgrade to WebSocket.
    public var allowUpgrades: Bool = true
    /// Cross-origin rules for browsers; `nil` (the default) sends no CORS headers at all.
    public var cors: CORSConfiguration? = nil
    /// The most packets a session queues for a client that does not read; past it the session
    /// closes with `slow consumer`.
    public var maxQueuedPackets: Int = 10_000
    /// The most bytes of messages a session queues for a client that does not read; past it the
    /// session closes with `slow consumer`. At most 1 GiB.
    public var maxQueuedBytes: Int = 8 * 1024 * 1024
    /// Limits on what peers may open; see ``Limits``.
    public var limits = Limits()
    /// How long an HTTP connection may stay open with no request in flight.
    public var idleConnectionTimeout: Duration = .seconds(30)
    /// How long a graceful shutdown waits for sessions to receive their close packet.
    public var shutdownGracePeriod: Duration = .seconds(2)
    /// A check run on every request before any session work; returning `false` answers
    /// `403 {"code":4,"message":"Forbidden"}`.
    public var allowRequest: (@Sendable (EngineRequest) -> Bool)? = nil
    /// A path whose WebSocket upgrades are served as a raw echo (see ``RawWebSocketEcho``); tests only.
    @_spi(Testing) public var rawWebSocketEchoPath: String? = nil

    /// Fixed documents served on GET at other paths of the same port (a web page, the client
    /// bundle), keyed by exact path. Everything else outside ``path`` is 404.
    public var staticFiles: [String: StaticFile] = [:]

    /// Creates the default configuration.
    public init() {}

    /// Bounds on connections and sessions, so that one peer or a storm cannot exhaust the
    /// server. `nil` means unlimited. See `Protocol/engine.md` § 10.
    public struct Limits: Sendable, Hashable {
        /// The most TCP connections open at once; a connection past it is answered `503` and
        /// closed.
        public var maxConnections: Int? = 200_000
        /// The most live sessions opened from one client IP address; a handshake past it is
        /// answered `429` (code 6). Clients behind one proxy or NAT share an address.
        public var maxSessionsPerAddress: Int? = 1_000
        /// The most handshakes (polling or WebSocket) accepted per second over the whole
        /// server, with a burst of as many; a handshake past it is answered `503` (code 7).
        public var maxHandshakesPerSecond: Int? = 5_000

        /// Creates the default limits.
        public init() {}

        /// No limit at all (benchmarks, trusted networks).
        public static var unlimited: Limits {
            var limits = Limits()
            limits.maxConnections = nil
            limits.maxSessionsPerAddress = nil
            limits.maxHandshakesPerSecond = nil
            return limits
        }
    }

    /// A listening address.
    public enum BindAddress: Sendable, Hashable {
        /// A host name or IP literal and a port; port 0 picks a free port.
        case hostname(String, port: Int)
    }
}

/// A document served as-is on GET and HEAD.
///
/// ```swift
/// configuration.staticFiles["/app.js"] = StaticFile(
///     contentType: "text/javascript; charset=utf-8",
///     body: ByteBuffer(string: script),
///     headers: ["Access-Control-Allow-Origin": "*"],
///     entityTag: "v42"
/// )
/// ```
public struct StaticFile: Sendable {
    /// The `Content-Type` header value.
    public var contentType: String
    /// The bytes of the document.
    public var body: ByteBuffer
    /// Headers every response for the document carries, each replacing the engine's own of the
    /// same name: `Access-Control-Allow-Origin: *` for a script any page may import, a
    /// `Cache-Control` of its own. A document with any `Access-Control-` header gets none of
    /// the CORS headers of ``EngineConfiguration/cors``.
    public var headers: HTTPHeaders
    /// A strong validator of ``body`` (an opaque tag without its quotes, of the characters
    /// `!`, `#`–`~`), or `nil`. When set, responses carry it as `ETag` with
    /// `Cache-Control: no-cache`, and a request whose `If-None-Match` names it is answered
    /// `304 Not Modified` without a body; without it they carry `Cache-Control: no-store`.
    /// It must change whenever the body does. See `Protocol/engine.md` § 13.
    public var entityTag: String?

    /// Creates a document.
    public init(contentType: String, body: ByteBuffer, headers: HTTPHeaders = [:], entityTag: String? = nil) {
        self.contentType = contentType
        self.body = body
        self.headers = headers
        self.entityTag = entityTag
    }
}

/// Cross-origin resource sharing rules for browser clients on another origin.
public struct CORSConfiguration: Sendable, Hashable {
    /// Which origins may call the endpoint.
    public enum AllowedOrigins: Sendable, Hashable {
        /// Any origin.
        case any
        /// Only these exact origins, e.g. `https://app.example.com`.
        case list([String])
    }

    /// Which origins may call the endpoint.
    public var allowedOrigins: AllowedOrigins
    /// Whether browsers may send cookies; the origin is then echoed, never `*`. Credentials
    /// with ``AllowedOrigins/any`` are refused when the server starts: they would let every
    /// site act with a user's cookies.
    public var allowCredentials: Bool
    /// How long browsers may cache a preflight answer.
    public var maxAge: Duration

    /// Creates CORS rules.
    public init(allowedOrigins: AllowedOrigins, allowCredentials: Bool = false, maxAge: Duration = .seconds(600)) {
        self.allowedOrigins = allowedOrigins
        self.allowCredentials = allowCredentials
        self.maxAge = maxAge
    }
}
