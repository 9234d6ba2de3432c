public import Foundation
public import NIOCore
public import NIOHTTP1

/// What the server knows about the HTTP request that opened a session (or any request, for
/// ``EngineConfiguration/allowRequest``).
public struct EngineRequest: Sendable {
    /// The HTTP method.
    public var method: HTTPMethod
    /// The request target as sent, path and query.
    public var uri: String
    /// The path part of ``uri``.
    public var path: String {
        uri.firstIndex(of: "?").map { String(uri[..<$0]) } ?? uri
    }
    /// The decoded query parameters; for a repeated name, the last value. Parsed from ``uri``
    /// on each access: a session keeps only the request line, not a dictionary.
    public var query: [String: String] {
        var query: [String: String] = [:]
        for (name, value) in Self.queryPairs(uri) { query[name] = value }
        return query
    }
    /// The request headers.
    public var headers: HTTPHeaders
    /// The peer's address, when the transport knows it.
    public var remoteAddress: SocketAddress?
    /// When the request arrived.
    public var time: Date

    /// Creates a request description.
    public init(method: HTTPMethod, uri: String, headers: HTTPHeaders, remoteAddress: SocketAddress?, time: Date = Date()) {
        self.method = method
        self.uri = uri
        // The decoder's header list is reserved for many more entries than a request has; a
        // session keeps its request for its whole life, so keep an exact-size copy.
        self.headers = HTTPHeaders(headers.map { ($0.name, $0.value) })
        self.remoteAddress = remoteAddress
        self.time = time
    }

    /// The decoded value of the query parameter `name` (the last one when repeated), without
    /// building the whole ``query``.
    public func queryValue(_ name: String) -> String? {
        guard let mark = uri.firstIndex(of: "?") else { return nil }
        var found: Substring?
        for pair in uri[uri.index(after: mark)...].split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = parts[0]
            let matches = key.contains(where: { $0 == "%" || $0 == "+" }) ? Self.percentDecoded(key) == name : key == name
            if matches { found = parts.count > 1 ? parts[1] : "" }
        }
        return found.map { value in
            value.contains(where: { $0 == "%" || $0 == "+" }) ? Self.percentDecoded(value) : String(value)
        }
    }

    /// The decoded name/value pairs of the query, in order.
    static func queryPairs(_ uri: String) -> [(String, String)] {
        guard let mark = uri.firstIndex(of: "?") else { return [] }
        return uri[uri.index(after: mark)...].split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (percentDecoded(parts[0]), parts.count > 1 ? percentDecoded(parts[1]) : "")
        }
    }

    private static func percentDecoded(_ text: Substring) -> String {
        let plusAsSpace = text.replacingOccurrences(of: "+", with: " ")
        return plusAsSpace.removingPercentEncoding ?? plusAsSpace
    }
}
