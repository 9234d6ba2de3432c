import NIOHTTP1
import ParleyProtocol

/// What an HTTP request to the server asks for, after the checks of `Protocol/engine.md` § 10
/// that need no session state.
enum EngineRoute: Sendable {
    /// Not the engine path.
    case notFound
    /// A configured static document.
    case staticFile(StaticFile)
    /// A CORS preflight to answer with these headers.
    case preflight(HTTPHeaders)
    /// A request the server refuses.
    case reject(EngineRequestError)
    /// A polling handshake.
    case handshake
    /// A GET for an existing session.
    case poll(sid: String)
    /// A POST for an existing session.
    case post(sid: String)
    /// A WebSocket request: a direct session (`sid == nil`) or an upgrade.
    case websocket(sid: String?)

    /// Classifies `request`.
    ///
    /// - Parameter isUpgrade: whether the request carries WebSocket upgrade headers; a
    ///   `transport=websocket` request without them is refused.
    init(_ request: EngineRequest, configuration: EngineConfiguration, cors: CORSPolicy, isUpgrade: Bool) {
        guard EngineRoute.pathMatches(request.path, configuration.path) else {
            if request.method == .GET || request.method == .HEAD, let file = configuration.staticFiles[request.path] {
                self = .staticFile(file)
            } else {
                self = .notFound
            }
            return
        }
        if request.method == .OPTIONS, let headers = cors.preflightHeaders(for: request.headers) {
            self = .preflight(headers)
            return
        }
        guard let name = request.queryValue("transport"), let transport = EngineTransportKind(rawValue: name),
            configuration.transports.contains(transport)
        else {
            self = .reject(.transportUnknown)
            return
        }
        guard request.queryValue("EIO") == "4" else {
            self = .reject(.unsupportedProtocolVersion)
            return
        }
        if let allow = configuration.allowRequest, !allow(request) {
            self = .reject(.forbidden)
            return
        }
        if transport == .websocket, isUpgrade, !cors.allowsWebSocket(request.headers) {
            self = .reject(.forbidden)
            return
        }
        let sid = request.queryValue("sid")
        switch (transport, sid) {
        case (.websocket, _) where request.method != .GET || !isUpgrade:
            self = .reject(sid == nil && request.method != .GET ? .badHandshakeMethod : .badRequest)
        case (.websocket, let sid):
            self = .websocket(sid: sid)
        case (.polling, nil):
            self = request.method == .GET ? .handshake : .reject(.badHandshakeMethod)
        case (.polling, let sid?):
            switch request.method {
            case .GET:
                self = .poll(sid: sid)
            case .POST where request.headers.first(name: "content-type")?.lowercased().hasPrefix("application/octet-stream") == true:
                self = .reject(.badRequest)
            case .POST:
                self = .post(sid: sid)
            default:
                self = .reject(.badRequest)
            }
        }
    }

    static func pathMatches(_ path: String, _ configured: String) -> Bool {
        if path == configured { return true }
        return configured.hasSuffix("/") && path == configured.dropLast()
    }
}
