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
            headers.add(name: "Access-Control-Allow-Origin", value: origin)
            headers.add(name: "Vary", value: "Origin")
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
