import NIOCore
import NIOPosix

/// Where and how the clients connect: the server address, the Socket.IO path, the transport
/// and the source addresses to spread connections over.
struct BenchTarget: Sendable {
    /// Linux IP_BIND_ADDRESS_NO_PORT: with a source address bound before connect, let connect()
    /// pick the port per destination instead of bind() reserving one for every destination.
    private static let bindAddressNoPort = ChannelOptions.Types.SocketOption(
        level: NIOBSDSocket.OptionLevel.ip,
        name: NIOBSDSocket.Option(rawValue: 24)
    )

    let host: String
    let port: Int
    /// The Socket.IO endpoint path, with a trailing slash (default `/socket.io/`).
    let path: String
    let transport: BenchTransport
    let remote: SocketAddress
    let sources: [SocketAddress]
    /// Nanoseconds a client may take to become ready.
    let connectTimeout: UInt64

    /// The `Host` header value.
    var authority: String { "\(host):\(port)" }

    /// The query every request carries; polling requests append `&sid=...`.
    var engineTarget: String { "\(path)?EIO=4&transport=\(transport.engineName)" }

    /// The raw HTTP/1.1 request that opens a WebSocket: a direct session, or with `sid` the probe
    /// of an upgrade (Protocol/engine.md §7).
    func webSocketRequest(sid: String? = nil) -> String {
        let uri = sid.map { "\(path)?EIO=4&transport=websocket&sid=\($0)" } ?? "\(path)?EIO=4&transport=websocket"
        return """
            GET \(uri) HTTP/1.1\r
            Host: \(authority)\r
            Upgrade: websocket\r
            Connection: Upgrade\r
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r
            Sec-WebSocket-Version: 13\r
            \r\n
            """
    }

    init(url: String, transport: BenchTransport, sourceAddresses: String?, connectTimeout: Double) throws {
        var rest = Substring(url)
        for scheme in ["http://", "ws://"] where rest.hasPrefix(scheme) {
            rest = rest.dropFirst(scheme.count)
        }
        guard !rest.contains("://") else { throw BenchError("--url must be http://HOST:PORT[/path] (no TLS): \(url)") }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let hostPort = rest[..<slash]
        var path = String(rest[slash...])
        if path.isEmpty || path == "/" { path = "/socket.io/" }
        if !path.hasSuffix("/") { path += "/" }
        guard let colon = hostPort.lastIndex(of: ":"), let port = Int(hostPort[hostPort.index(after: colon)...]) else {
            throw BenchError("--url needs an explicit port: \(url)")
        }
        self.host = String(hostPort[..<colon])
        self.port = port
        self.path = path
        self.transport = transport
        self.connectTimeout = BenchClock.nanoseconds(connectTimeout)
        self.remote = try SocketAddress.makeAddressResolvingHost(host, port: port)
        self.sources = try (sourceAddresses ?? "").split(separator: ",").map {
            let address = $0.trimmingCharacters(in: " ")
            do {
                return try SocketAddress(ipAddress: address, port: 0)
            } catch {
                throw BenchError("--source-addresses: not an IP address: \(address)")
            }
        }
    }

    /// A bootstrap for the `index`-th connection on `loop`, bound to its source address.
    func bootstrap(on loop: any EventLoop, index: Int) -> ClientBootstrap {
        var bootstrap = ClientBootstrap(group: loop).channelOption(.socketOption(.tcp_nodelay), value: 1)
        if !sources.isEmpty {
            bootstrap = bootstrap
                .channelOption(Self.bindAddressNoPort, value: 1)
                .bind(to: sources[index % sources.count])
        }
        return bootstrap
    }

    /// Opens `socket`'s engine session over the configured transport; runs on the socket's loop.
    func connect(_ socket: BenchSocket, index: Int) {
        switch transport {
        case .websocket: WebSocketEngineHandler.connect(socket, target: self, index: index)
        case .polling: PollingEngineTransport.connect(socket, target: self, index: index, upgrade: false)
        case .upgrade: PollingEngineTransport.connect(socket, target: self, index: index, upgrade: true)
        }
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        String(drop(while: { $0 == set }).reversed().drop(while: { $0 == set }).reversed())
    }
}
