public import NIOCore
public import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization
import NIOConcurrencyHelpers

/// A TLS-terminating TCP proxy on loopback: it accepts TLS with a given certificate and relays
/// the plaintext to a server on 127.0.0.1, so a plain Parley server can be reached over
/// `https` / `wss`. It reports each TLS handshake's outcome.
public final class TLSTerminatingProxy: Sendable {
    /// The outcome of one client's TLS handshake.
    public enum Handshake: Sendable, Equatable {
        case completed
        /// The handshake failed; the text is NIOSSL's error (for a client that refused the
        /// certificate, the alert it sent).
        case failed(String)
    }

    /// The port it listens on (127.0.0.1).
    public let port: Int
    /// One entry per accepted connection, in order.
    public let handshakes: AsyncInbox<Handshake>
    private let listener: any Channel
    private let connections: ProxyConnections

    private init(port: Int, handshakes: AsyncInbox<Handshake>, listener: any Channel, connections: ProxyConnections) {
        self.port = port
        self.handshakes = handshakes
        self.listener = listener
        self.connections = connections
    }

    /// Starts a proxy to 127.0.0.1:`upstreamPort` presenting `certificate`.
    public static func start(upstreamPort: Int, certificate: TLSTestCertificate) async throws -> TLSTerminatingProxy {
        let group = MultiThreadedEventLoopGroup.singleton
        let context = try NIOSSLContext(configuration: certificate.serverConfiguration)
        let handshakes = AsyncInbox<Handshake>(eventLoop: group.next())
        let connections = ProxyConnections()
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                connections.add(channel)
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(NIOSSLServerHandler(context: context))
                    try sync.addHandler(HandshakeReporter(handshakes: handshakes))
                    try sync.addHandler(DownstreamRelay(upstreamPort: { upstreamPort }, connections: connections))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        guard let port = listener.localAddress?.port else {
            try? await listener.close()
            throw ProxyHasNoPort()
        }
        return TLSTerminatingProxy(port: port, handshakes: handshakes, listener: listener, connections: connections)
    }

    /// Stops listening and closes every relayed connection.
    public func stop() async {
        try? await listener.close()  // already closed: nothing to do
        for channel in connections.all() { try? await channel.close() }
    }
}

/// The listener had no port.
struct ProxyHasNoPort: Error {}

/// The open connections of a proxy, both sides.
final class ProxyConnections: Sendable {
    private let channels = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])

    func add(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        channels.withLockedValue { $0[id] = channel }
        channel.closeFuture.whenComplete { _ in _ = self.channels.withLockedValue { $0.removeValue(forKey: id) } }
    }

    func all() -> [any Channel] {
        channels.withLockedValue { Array($0.values) }
    }
}

/// Reports the TLS handshake's outcome; passes everything on.
private final class HandshakeReporter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let handshakes: AsyncInbox<TLSTerminatingProxy.Handshake>
    private var reported = false

    init(handshakes: AsyncInbox<TLSTerminatingProxy.Handshake>) {
        self.handshakes = handshakes
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event { report(.completed) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        report(.failed("\(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        report(.failed("closed before the handshake completed"))
        context.fireChannelInactive()
    }

    private func report(_ outcome: TLSTerminatingProxy.Handshake) {
        guard !reported else { return }
        reported = true
        let handshakes = self.handshakes
        handshakes.eventLoop.execute { handshakes.push(outcome) }
    }
}

/// The client side of a relay: opens the upstream connection and forwards plaintext to it,
/// holding what arrives before it is connected.
final class DownstreamRelay: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let upstreamPort: @Sendable () -> Int
    private let connections: ProxyConnections
    private var upstream: (any Channel)?
    private var pending: [ByteBuffer] = []
    private var closed = false

    init(upstreamPort: @escaping @Sendable () -> Int, connections: ProxyConnections) {
        self.upstreamPort = upstreamPort
        self.connections = connections
    }

    func channelActive(context: ChannelHandlerContext) {
        let downstream = context.channel
        let connections = self.connections
        let this = NIOLoopBound(self, eventLoop: context.eventLoop)
        ClientBootstrap(group: context.eventLoop)
            .channelInitializer { channel in
                connections.add(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UpstreamRelay(downstream: downstream))
                }
            }
            .connect(host: "127.0.0.1", port: upstreamPort())
            .whenComplete { result in
                let relay = this.value
                switch result {
                case .success(let channel):
                    guard !relay.closed else {
                        channel.close(promise: nil)
                        return
                    }
                    relay.upstream = channel
                    for chunk in relay.pending { channel.write(chunk, promise: nil) }
                    relay.pending.removeAll()
                    channel.flush()
                case .failure:
                    downstream.close(promise: nil)
                }
            }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let chunk = unwrapInboundIn(data)
        if let upstream {
            upstream.writeAndFlush(chunk, promise: nil)
        } else {
            pending.append(chunk)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        upstream?.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// The server side of a relay: forwards what the server sends back to the TLS client.
private final class UpstreamRelay: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let downstream: any Channel

    init(downstream: any Channel) {
        self.downstream = downstream
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        downstream.writeAndFlush(unwrapInboundIn(data), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        downstream.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
