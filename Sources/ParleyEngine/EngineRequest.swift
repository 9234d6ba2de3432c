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
        uri.utf8.firstIndex(of: UInt8(ascii: "?")).map { String(uri[..<$0]) } ?? uri
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
        self.headers = headers
        self.remoteAddress = remoteAddress
        self.time = time
    }

    /// The decoded value of the query parameter `name` (the last one when repeated), without
    /// building the whole ``query``. Works on the bytes: every request asks for two or three.
    public func queryValue(_ name: String) -> String? {
        var found: Substring?
        Self.forEachQueryPair(uri) { key, value in
            let matches = Self.needsDecoding(key) ? Self.percentDecoded(key) == name : key.utf8.elementsEqual(name.utf8)
            if matches { found = value }
        }
        return found.map { Self.needsDecoding($0) ? Self.percentDecoded($0) : String($0) }
    }

    /// A copy to keep for a session's whole life: its header list exactly as long as it needs
    /// to be (the HTTP decoder reserves room for many more), without the WebSocket handshake's
    /// own `Sec-WebSocket-*` headers, which mean nothing once the connection is upgraded.
    func compacted() -> EngineRequest {
        let kept = headers.filter { header in
            !(header.name.utf8.count > 14 && header.name.lowercased().hasPrefix("sec-websocket-"))
        }
        var list: [(String, String)] = []
        list.reserveCapacity(kept.count)
        for header in kept { list.append((header.name, header.value)) }
        var copy = self
        copy.headers = HTTPHeaders(list)
        return copy
    }

    /// Calls `body` with each raw (still encoded) name and value of the query, in order.
    private static func forEachQueryPair(_ uri: String, _ body: (Substring, Substring) -> Void) {
        let utf8 = uri.utf8
        guard let mark = utf8.firstIndex(of: UInt8(ascii: "?")) else { return }
        var start = utf8.index(after: mark)
        while start < utf8.endIndex {
            let end = utf8[start...].firstIndex(of: UInt8(ascii: "&")) ?? utf8.endIndex
            if start < end {
                let pair = uri[start..<end]
                if let equals = pair.utf8.firstIndex(of: UInt8(ascii: "=")) {
                    body(pair[..<equals], pair[pair.utf8.index(after: equals)...])
                } else {
                    body(pair, "")
                }
            }
            start = end < utf8.endIndex ? utf8.index(after: end) : end
        }
    }

    private static func needsDecoding(_ text: Substring) -> Bool {
        text.utf8.contains { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }
    }

    /// The decoded name/value pairs of the query, in order.
    static func queryPairs(_ uri: String) -> [(String, String)] {
        var pairs: [(String, String)] = []
        forEachQueryPair(uri) { pairs.append((percentDecoded($0), percentDecoded($1))) }
        return pairs
    }

    private static func percentDecoded(_ text: Substring) -> String {
        let plusAsSpace = text.replacingOccurrences(of: "+", with: " ")
        return plusAsSpace.removingPercentEncoding ?? plusAsSpace
    }
}
