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
    public var path: String
    /// The decoded query parameters; for a repeated name, the last value.
    public var query: [String: String]
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
        let (path, query) = EngineRequest.split(uri)
        self.path = path
        self.query = query
        self.headers = headers
        self.remoteAddress = remoteAddress
        self.time = time
    }

    static func split(_ uri: String) -> (path: String, query: [String: String]) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri, [:]) }
        var query: [String: String] = [:]
        for pair in uri[uri.index(after: mark)...].split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = percentDecoded(parts[0])
            query[name] = parts.count > 1 ? percentDecoded(parts[1]) : ""
        }
        return (String(uri[..<mark]), query)
    }

    private static func percentDecoded(_ text: Substring) -> String {
        let plusAsSpace = text.replacingOccurrences(of: "+", with: " ")
        return plusAsSpace.removingPercentEncoding ?? plusAsSpace
    }
}
