import NIOCore
import NIOHTTP1

extension StaticFile {
    /// Answers a GET or HEAD for the document: `200` with the body (none for HEAD), or `304`
    /// without one when the request's `If-None-Match` names ``entityTag``. Both announce the
    /// length a GET receives. See `Protocol/engine.md` § 13.
    func respond(to request: EngineRequest, with responder: HTTPResponder) {
        // A document with CORS headers of its own takes none of the engine's, so that its `*`
        // never goes out with `Access-Control-Allow-Credentials` (§ 11).
        let ownsCORS = headers.contains { $0.name.lowercased().hasPrefix("access-control-") }
        let responder = ownsCORS
            ? HTTPResponder(channel: responder.channel, version: responder.version, keepAlive: responder.keepAlive, extraHeaders: [:])
            : responder
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        if let entityTag {
            headers.add(name: "ETag", value: "\"\(entityTag)\"")
            headers.add(name: "Cache-Control", value: "no-cache")
        }
        headers.override(with: self.headers)
        if let entityTag, request.headers["if-none-match"].contains(where: { Self.ifNoneMatch($0, matches: entityTag) }) {
            responder.respond(status: .notModified, contentType: nil, body: ByteBuffer(), headers: headers)
            return
        }
        let body = request.method == .HEAD ? ByteBuffer() : body
        responder.respond(status: .ok, contentType: contentType, body: body, headers: headers)
    }

    /// Whether the `If-None-Match` value `field` names `tag` (RFC 9110 § 13.1.2, weak
    /// comparison): `*`, or a comma-separated list of quoted entity tags whose `W/` prefixes
    /// do not count. A malformed rest of the list matches nothing.
    static func ifNoneMatch(_ field: String, matches tag: String) -> Bool {
        var rest = Substring(field)
        while true {
            rest = rest.drop { $0 == " " || $0 == "\t" || $0 == "," }
            guard let first = rest.first else { return false }
            if first == "*" { return true }
            if rest.hasPrefix("W/") { rest = rest.dropFirst(2) }
            guard rest.first == "\"" else { return false }
            rest = rest.dropFirst()
            guard let end = rest.firstIndex(of: "\"") else { return false }
            if rest[..<end] == tag { return true }
            rest = rest[rest.index(after: end)...]
        }
    }

    /// Whether `tag` holds only the characters an entity tag may (`!`, `#`–`~`).
    static func isValidEntityTag(_ tag: String) -> Bool {
        tag.utf8.allSatisfy { $0 == 0x21 || (0x23...0x7E).contains($0) }
    }
}
