import NIOHTTP1

/// Computes the CORS response headers for a request. See `Protocol/engine.md` § CORS.
struct CORSPolicy: Sendable {
    let configuration: CORSConfiguration?

    /// The headers every response to this request carries; empty when CORS is off or the
    /// origin is not allowed.
    func responseHeaders(for request: HTTPHeaders) -> HTTPHeaders {
        var headers = HTTPHeaders()
        guard let configuration, let origin = request.first(name: "origin") else { return headers }
        switch configuration.allowedOrigins {
        case .any where !configuration.allowCredentials:
            headers.add(name: "Access-Control-Allow-Origin", value: "*")
        case .any:
            // Refused when the server starts (`EngineServer.validate`): no origin is reflected.
            return headers
        case .list(let origins):
            guard origins.contains(origin) else { return headers }
            headers.add(name: "Access-Control-Allow-Origin", value: origin)
            headers.add(name: "Vary", value: "Origin")
        }
        if configuration.allowCredentials {
            headers.add(name: "Access-Control-Allow-Credentials", value: "true")
        }
        return headers
    }

    /// Whether a WebSocket upgrade carrying `headers` may proceed. Browsers send `Origin` on
    /// every WebSocket handshake and apply no CORS check of their own to it, so the server
    /// does: with CORS configured the origin must be allowed; without, it must be the server's
    /// own (its host equal to the `Host` header), as for polling, which a browser only lets a
    /// page of another origin use when CORS allows it. A request without `Origin` (not a
    /// browser) passes. See `Protocol/engine.md` § 11.
    func allowsWebSocket(_ headers: HTTPHeaders) -> Bool {
        guard let origin = headers.first(name: "origin") else { return true }
        if let configuration {
            switch configuration.allowedOrigins {
            case .any: return true
            case .list(let origins): if origins.contains(origin) { return true }
            }
        }
        return Self.isSameOrigin(origin, host: headers.first(name: "host"))
    }

    /// Whether `origin` (`scheme://host[:port]`) names the host in the request's `Host` header.
    static func isSameOrigin(_ origin: String, host: String?) -> Bool {
        guard let hostHeader = host, let separator = origin.utf8.firstRange(of: "://".utf8) else { return false }
        let scheme = String(origin.utf8[..<separator.lowerBound])?.lowercased() ?? ""
        let authority = String(origin.utf8[separator.upperBound...])?.lowercased() ?? ""
        let host = hostHeader.lowercased()
        if authority == host { return true }
        // `Host` may omit the default port the origin names, or the other way round.
        let defaultPort = scheme == "https" ? ":443" : ":80"
        return authority == host + defaultPort || authority + defaultPort == host
    }

    /// The answer to a preflight `OPTIONS`, or `nil` when CORS is off (the request is then
    /// treated like any other and refused).
    func preflightHeaders(for request: HTTPHeaders) -> HTTPHeaders? {
        guard let configuration else { return nil }
        var headers = responseHeaders(for: request)
        guard !headers.isEmpty else { return headers }
        headers.add(name: "Access-Control-Allow-Methods", value: "GET, POST, OPTIONS")
        if let requested = request.first(name: "access-control-request-headers") {
            headers.add(name: "Access-Control-Allow-Headers", value: requested)
        }
        headers.add(name: "Access-Control-Max-Age", value: String(configuration.maxAge.components.seconds))
        return headers
    }
}
