import Foundation

/// Where a client connects: scheme, host, port and the URLs of both transports.
struct ClientEndpoint: Sendable {
    let secure: Bool
    let host: String
    let port: Int
    let path: String
    let query: [String: String]

    /// Parses `http(s)://` or `ws(s)://` URLs.
    init(url: String, configuration: SocketClientConfiguration) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), let host = components.host else {
            throw InvalidURLError(url: url)
        }
        switch scheme {
        case "http", "ws": secure = false
        case "https", "wss": secure = true
        default: throw InvalidURLError(url: url)
        }
        self.host = host
        self.port = components.port ?? (secure ? 443 : 80)
        var path = configuration.path
        if !path.hasPrefix("/") { path = "/" + path }
        self.path = path
        var query = configuration.query
        for item in components.queryItems ?? [] { query[item.name] = item.value ?? "" }
        self.query = query
    }

    /// The request target (path and query) for one request.
    func target(transport: String, sid: String?) -> String {
        var items = [URLQueryItem(name: "EIO", value: "4"), URLQueryItem(name: "transport", value: transport)]
        if let sid { items.append(URLQueryItem(name: "sid", value: sid)) }
        for (name, value) in query.sorted(by: { $0.key < $1.key }) { items.append(URLQueryItem(name: name, value: value)) }
        var components = URLComponents()
        components.path = path
        components.queryItems = items
        return components.string ?? path
    }

    /// The absolute URL of a polling request.
    func pollingURL(sid: String?) -> String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "\(secure ? "https" : "http")://\(hostPart):\(port)" + target(transport: "polling", sid: sid)
    }
}

/// The server URL could not be used.
public struct InvalidURLError: Error, Sendable, CustomStringConvertible {
    public var url: String
    public var description: String { "not an http(s) or ws(s) URL: \(url)" }
}
