public import NIOCore
public import NIOHTTP1
public import NIOPosix
import Synchronization

/// An HTTP/1.1 server on loopback whose every answer the test writes: for playing a peer that
/// behaves as no real server would (one that advertises a heartbeat and then never pings).
///
/// Each request goes to the script with its number (from 0); the script answers it or holds
/// it open. Held requests stay open until ``stop()``.
public final class ScriptedHTTPServer: Sendable {
    /// One request as the server received it.
    public struct Request: Sendable {
        public let number: Int
        public let head: HTTPRequestHead
        public let body: ByteBuffer

        /// The value of the query parameter `name` in the request target, if present.
        public func query(_ name: String) -> String? {
            guard let query = head.uri.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
            for pair in query.split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.first.map(String.init) == name { return parts.count > 1 ? String(parts[1]) : "" }
            }
            return nil
        }
    }

    /// What the server does with a request.
    public enum Answer: Sendable {
        /// A complete response, sent at once.
        case respond(HTTPResponseStatus, body: String, headers: HTTPHeaders = [:])
        /// No response: the request stays open (a long-poll the server never answers).
        case hold
    }

    /// The port it listens on (127.0.0.1).
    public let port: Int
    /// Every request, in the order they arrived.
    public let requests: AsyncInbox<Request>
    private let listener: any Channel
    private let shared: ScriptedServerState

    private init(port: Int, requests: AsyncInbox<Request>, listener: any Channel, shared: ScriptedServerState) {
        self.port = port
        self.requests = requests
        self.listener = listener
        self.shared = shared
    }

    /// Starts a server on 127.0.0.1 with an OS-chosen port; `script` runs on an event loop and
    /// must not block.
    public static func start(_ script: @escaping @Sendable (Request) -> Answer) async throws -> ScriptedHTTPServer {
        let group = MultiThreadedEventLoopGroup.singleton
        let requests = AsyncInbox<Request>(eventLoop: group.next())
        let shared = ScriptedServerState()
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let id = ObjectIdentifier(channel)
                shared.connections.withLock { $0[id] = channel }
                channel.closeFuture.whenComplete { _ in _ = shared.connections.withLock { $0.removeValue(forKey: id) } }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(ScriptedResponder(shared: shared, requests: requests, script: script))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        guard let port = listener.localAddress?.port else {
            try? await listener.close()
            throw ScriptedHTTPServerError()
        }
        return ScriptedHTTPServer(port: port, requests: requests, listener: listener, shared: shared)
    }

    /// Stops listening and closes every connection, held requests included.
    public func stop() async {
        try? await listener.close()  // already closed: nothing to do
        for channel in shared.connections.withLock({ Array($0.values) }) { try? await channel.close() }
    }
}

/// The listener had no port.
struct ScriptedHTTPServerError: Error {}

/// What the listener and its connections share.
final class ScriptedServerState: Sendable {
    let requestCount = Mutex(0)
    let connections = Mutex<[ObjectIdentifier: any Channel]>([:])
}

private final class ScriptedResponder: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let shared: ScriptedServerState
    private let requests: AsyncInbox<ScriptedHTTPServer.Request>
    private let script: @Sendable (ScriptedHTTPServer.Request) -> ScriptedHTTPServer.Answer
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    init(shared: ScriptedServerState, requests: AsyncInbox<ScriptedHTTPServer.Request>, script: @escaping @Sendable (ScriptedHTTPServer.Request) -> ScriptedHTTPServer.Answer) {
        self.shared = shared
        self.requests = requests
        self.script = script
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var chunk):
            body.writeBuffer(&chunk)
        case .end:
            guard let head else { return }
            self.head = nil
            let number = shared.requestCount.withLock { counter in
                defer { counter += 1 }
                return counter
            }
            let request = ScriptedHTTPServer.Request(number: number, head: head, body: body)
            let requests = self.requests
            requests.eventLoop.execute { requests.push(request) }
            guard case .respond(let status, let text, var headers) = script(request) else { return }
            let bytes = ByteBuffer(string: text)
            headers.replaceOrAdd(name: "Content-Length", value: String(bytes.readableBytes))
            if !headers.contains(name: "Content-Type") { headers.add(name: "Content-Type", value: "text/plain; charset=UTF-8") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(bytes))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
