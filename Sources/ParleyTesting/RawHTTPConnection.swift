public import NIOCore
public import NIOHTTP1
public import NIOPosix

/// One HTTP response as a test sees it.
public struct RawHTTPResponse: Sendable {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: ByteBuffer

    /// The body as UTF-8 text.
    public var text: String { String(buffer: body) }
}

/// A keep-alive HTTP/1.1 connection that writes requests as raw bytes (so tests can send
/// anything, malformed included) and parses responses with NIO's decoder.
public final class RawHTTPConnection: Sendable {
    public let channel: any Channel
    private let responses: AsyncInbox<RawHTTPResponse>
    private let host: String
    private let port: Int

    private init(channel: any Channel, responses: AsyncInbox<RawHTTPResponse>, host: String, port: Int) {
        self.channel = channel
        self.responses = responses
        self.host = host
        self.port = port
    }

    /// Opens a TCP connection to `host:port`.
    public static func connect(host: String = "127.0.0.1", port: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> RawHTTPConnection {
        let loop = group.next()
        let inbox = AsyncInbox<RawHTTPResponse>(eventLoop: loop)
        let channel = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector(inbox: inbox))
                }
            }
            .connect(host: host, port: port)
            .get()
        return RawHTTPConnection(channel: channel, responses: inbox, host: host, port: port)
    }

    /// Writes a request without waiting for its response (e.g. a long-poll GET).
    public func send(_ method: String, _ uri: String, headers: [(String, String)] = [], body: [UInt8]? = nil) {
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: uri)
        head.headers.add(name: "Host", value: "\(host):\(port)")
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        head.headers.add(name: "Content-Length", value: String(body?.count ?? 0))
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }

    /// Writes the head of a request announcing `contentLength` body bytes and only
    /// `bodyPrefix` of them: the request stays in flight.
    public func sendPartial(_ method: String, _ uri: String, contentLength: Int, bodyPrefix: [UInt8]) {
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: uri)
        head.headers.add(name: "Host", value: "\(host):\(port)")
        head.headers.add(name: "Content-Length", value: String(contentLength))
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: bodyPrefix))), promise: nil)
    }

    /// Writes a chunked request whose body is `chunks`.
    public func sendChunked(_ method: String, _ uri: String, chunks: [[UInt8]]) {
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: uri)
        head.headers.add(name: "Host", value: "\(host):\(port)")
        head.headers.add(name: "Transfer-Encoding", value: "chunked")
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        for chunk in chunks { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: chunk))), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }

    /// The next response on this connection, in request order.
    public func response(timeout: Duration = .seconds(5)) async throws -> RawHTTPResponse {
        guard let response = try await responses.next(timeout: timeout) else {
            throw RawConnectionClosed()
        }
        return response
    }

    /// Sends a request and waits for its response.
    public func request(_ method: String, _ uri: String, headers: [(String, String)] = [], body: [UInt8]? = nil, timeout: Duration = .seconds(5)) async throws -> RawHTTPResponse {
        send(method, uri, headers: headers, body: body)
        return try await response(timeout: timeout)
    }

    /// Sends a request whose body is UTF-8 text.
    public func request(_ method: String, _ uri: String, text: String, headers: [(String, String)] = []) async throws -> RawHTTPResponse {
        try await request(method, uri, headers: headers, body: Array(text.utf8))
    }

    /// Waits until the server closed the connection; `false` if it stayed open past `timeout`.
    public func waitForClose(timeout: Duration = .seconds(5)) async -> Bool {
        do {
            while try await responses.next(timeout: timeout) != nil {}
            return true
        } catch {
            return false
        }
    }

    /// Closes the connection from this side.
    public func close() async {
        try? await channel.close()
    }
}

/// The server closed the connection before a response arrived.
public struct RawConnectionClosed: Error {}

private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let inbox: AsyncInbox<RawHTTPResponse>
    private var current: RawHTTPResponse?

    init(inbox: AsyncInbox<RawHTTPResponse>) {
        self.inbox = inbox
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            current = RawHTTPResponse(status: head.status, headers: head.headers, body: ByteBuffer())
        case .body(var chunk):
            current?.body.writeBuffer(&chunk)
        case .end:
            if let current { inbox.push(current) }
            current = nil
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        inbox.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
