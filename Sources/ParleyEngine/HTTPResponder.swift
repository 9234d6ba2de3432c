import NIOCore
import NIOHTTP1
import Synchronization

/// Writes one HTTP response on a connection, from whichever event loop the caller is on.
///
/// A pending long-poll is answered by its session, whose event loop may differ from the
/// connection's; the writes are then done in one hop.
struct HTTPResponder: Sendable {
    let channel: any Channel
    let version: HTTPVersion
    let keepAlive: Bool
    /// Headers every response carries (CORS).
    let extraHeaders: HTTPHeaders
    /// Set by the first response: a request is answered once, whoever tries again.
    private let answered = OnceFlag()

    init(channel: any Channel, version: HTTPVersion, keepAlive: Bool, extraHeaders: HTTPHeaders) {
        self.channel = channel
        self.version = version
        self.keepAlive = keepAlive
        self.extraHeaders = extraHeaders
    }

    var connectionID: ObjectIdentifier { ObjectIdentifier(channel) }

    /// Answers with a polling body (`text/plain`).
    func respond(payload: ByteBuffer) {
        respond(status: .ok, contentType: "text/plain; charset=UTF-8", body: payload)
    }

    /// Answers a POST that was accepted.
    func respondOK() {
        respond(status: .ok, contentType: "text/html", body: ByteBuffer(string: "ok"))
    }

    /// Answers with the reference server's JSON error body.
    func respond(error: EngineRequestError) {
        respond(status: error.status, contentType: "application/json", body: ByteBuffer(string: error.body))
    }

    /// Writes the whole response; closes the connection afterwards when asked or when the
    /// request did not allow keep-alive.
    ///
    /// - Parameter headers: headers that replace those of the same name the response would
    ///   carry otherwise (``extraHeaders``, `Content-Length`, `Cache-Control`).
    func respond(status: HTTPResponseStatus, contentType: String?, body: ByteBuffer, headers overrides: HTTPHeaders = [:], closeConnection: Bool = false) {
        // A second answer to one request would break HTTP framing on the connection.
        guard answered.set() else { return }
        var headers = extraHeaders
        if let contentType { headers.add(name: "Content-Type", value: contentType) }
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Cache-Control", value: "no-store")
        headers.override(with: overrides)
        let close = closeConnection || !keepAlive
        if close { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: version, status: status, headers: headers)
        let channel = self.channel
        let write: @Sendable () -> Void = {
            guard channel.isActive else { return }
            channel.write(HTTPServerResponsePart.head(head), promise: nil)
            if body.readableBytes > 0 { channel.write(HTTPServerResponsePart.body(.byteBuffer(body)), promise: nil) }
            let done = channel.writeAndFlush(HTTPServerResponsePart.end(nil))
            if close { done.whenComplete { _ in channel.close(promise: nil) } }
        }
        if channel.eventLoop.inEventLoop { write() } else { channel.eventLoop.execute(write) }
    }
}

/// A one-way flag, shared by whoever must act only once.
final class OnceFlag: Sendable {
    private let value = Atomic<Bool>(false)

    /// Sets the flag; `true` only for the first caller.
    func set() -> Bool {
        value.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }
}

extension HTTPHeaders {
    /// Replaces every header named in `other` by `other`'s values of that name, and adds the
    /// rest.
    mutating func override(with other: HTTPHeaders) {
        guard !other.isEmpty else { return }
        for name in Set(other.map { $0.name.lowercased() }) { remove(name: name) }
        add(contentsOf: other)
    }
}
