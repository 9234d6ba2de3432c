public import NIOCore
public import NIOPosix
import Synchronization
import NIOConcurrencyHelpers

/// A TCP relay on loopback that a test controls: it forwards each connection to a server on
/// 127.0.0.1 and can cut every connection at once (a network that drops), refuse new ones (a
/// server that is down), or point at another port (the server started again elsewhere).
public final class TCPProxy: Sendable {
    /// The port it listens on (127.0.0.1).
    public let port: Int
    private let listener: any Channel
    private let connections: ProxyConnections
    private let box: StateBox

    private init(port: Int, listener: any Channel, connections: ProxyConnections, box: StateBox) {
        self.port = port
        self.listener = listener
        self.connections = connections
        self.box = box
    }

    /// Starts a relay to 127.0.0.1:`upstreamPort`.
    public static func start(upstreamPort: Int) async throws -> TCPProxy {
        let connections = ProxyConnections()
        let box = StateBox(upstreamPort: upstreamPort)
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard !box.refusing else { return channel.close() }
                connections.add(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(DownstreamRelay(upstreamPort: { box.upstreamPort }, connections: connections))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        guard let port = listener.localAddress?.port else {
            try? await listener.close()
            throw ProxyHasNoPort()
        }
        return TCPProxy(port: port, listener: listener, connections: connections, box: box)
    }

    /// Closes every relayed connection, both sides, at once.
    public func cutAll() async {
        for channel in connections.all() { try? await channel.close() }
    }

    /// While `true`, new connections are closed as soon as they are accepted.
    public func setRefusing(_ refusing: Bool) {
        box.state.withLockedValue { $0.refusing = refusing }
    }

    /// Relays new connections to another port from now on.
    public func setUpstreamPort(_ port: Int) {
        box.state.withLockedValue { $0.upstreamPort = port }
    }

    /// The number of relayed connections open (each counts its two sides).
    public var openConnectionCount: Int { connections.all().count }

    /// Stops listening and closes every relayed connection.
    public func stop() async {
        try? await listener.close()  // already closed: nothing to do
        await cutAll()
    }
}

/// The proxy's settings, read from its connections' event loops.
private final class StateBox: Sendable {
    let state: NIOLockedValueBox<(upstreamPort: Int, refusing: Bool)>

    init(upstreamPort: Int) {
        self.state = NIOLockedValueBox((upstreamPort: upstreamPort, refusing: false))
    }

    var upstreamPort: Int { state.withLockedValue { $0.upstreamPort } }
    var refusing: Bool { state.withLockedValue { $0.refusing } }
}
