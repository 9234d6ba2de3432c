import NIOCore
import NIOHTTP1
import NIOPosix
import ParleyProtocol

/// The long-polling transport of a bench client: two keep-alive HTTP/1.1 connections, one that
/// always holds the next GET, one that carries POSTs (one at a time; packets queued meanwhile
/// go together in the next body, joined by the record separator).
final class PollingEngineTransport: EngineTransport {
    private static let separator: UInt8 = 0x1E

    private let target: BenchTarget
    private var delegate: (any EngineTransportDelegate)?
    private var connections: [PollingHTTPConnection.Role: PollingHTTPConnection] = [:]
    private var channels: [any Channel] = []
    private var getHead: HTTPRequestHead
    private var postHead: HTTPRequestHead?
    private var outbox: [ByteBuffer] = []
    private var isPostInFlight = false
    private var isPostConnected = false
    private var isEnded = false

    private init(delegate: any EngineTransportDelegate, target: BenchTarget) {
        self.delegate = delegate
        self.target = target
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: target.authority)
        self.getHead = HTTPRequestHead(version: .http1_1, method: .GET, uri: target.engineTarget, headers: headers)
    }

    /// Connects `socket` over long-polling; runs on the socket's loop.
    static func connect(_ socket: BenchSocket, target: BenchTarget, index: Int) {
        let transport = PollingEngineTransport(delegate: socket, target: target)
        socket.transport = transport
        let bound = NIOLoopBound(transport, eventLoop: socket.loop)
        for role in [PollingHTTPConnection.Role.get, .post] {
            target.bootstrap(on: socket.loop, index: index)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let connection = PollingHTTPConnection(role: role, transport: bound.value)
                        // Our request heads are built once and valid; skip re-validating each.
                        try channel.pipeline.syncOperations.addHTTPClientHandlers(enableOutboundHeaderValidation: false)
                        try channel.pipeline.syncOperations.addHandler(connection)
                        bound.value.attach(connection, channel: channel)
                    }
                }
                .connect(to: target.remote)
                .assumeIsolated()
                .whenFailure { error in
                    bound.value.end(reason: "connect failed: \(error)")
                }
        }
    }

    private func attach(_ connection: PollingHTTPConnection, channel: any Channel) {
        if isEnded {
            channel.close(promise: nil)
            return
        }
        connections[connection.role] = connection
        channels.append(channel)
    }

    // MARK: events from the HTTP connections

    func connectionBecameActive(_ role: PollingHTTPConnection.Role) {
        switch role {
        case .get:
            connections[.get]?.send(getHead, body: nil)  // the handshake
        case .post:
            isPostConnected = true
            flush()
        }
    }

    func responseReceived(_ role: PollingHTTPConnection.Role, status: HTTPResponseStatus, body: ByteBuffer) {
        guard !isEnded else { return }
        guard status == .ok else {
            end(reason: "\(role == .get ? "GET" : "POST") answered \(status.code) \(String(buffer: body))")
            return
        }
        switch role {
        case .get:
            packetsReceived(body)
            if !isEnded { connections[.get]?.send(getHead, body: nil) }
        case .post:
            isPostInFlight = false
            flush()
        }
    }

    func connectionClosed(_ role: PollingHTTPConnection.Role) {
        end(reason: "\(role == .get ? "GET" : "POST") connection closed")
    }

    // MARK: EngineTransport

    func send(_ packet: ByteBuffer) {
        outbox.append(packet)
    }

    func flush() {
        guard !isEnded, !isPostInFlight, isPostConnected, let postHead, !outbox.isEmpty else { return }
        var body: ByteBuffer
        if outbox.count == 1 {
            body = outbox[0]
        } else {
            let size = outbox.reduce(outbox.count) { $0 + $1.readableBytes }
            body = ByteBufferAllocator().buffer(capacity: size)
            for (offset, packet) in outbox.enumerated() {
                if offset > 0 { body.writeInteger(Self.separator) }
                body.writeImmutableBuffer(packet)
            }
        }
        outbox.removeAll(keepingCapacity: true)
        var head = postHead
        head.headers.replaceOrAdd(name: "Content-Length", value: String(body.readableBytes))
        isPostInFlight = true
        connections[.post]?.send(head, body: body)
    }

    func close() {
        end(reason: "closed")
    }

    // MARK: private

    /// Handles one GET body: packets separated by 0x1E.
    private func packetsReceived(_ body: ByteBuffer) {
        var rest = body
        while rest.readableBytes > 0, !isEnded {
            let length = rest.readableBytesView.firstIndex(of: Self.separator).map { $0 - rest.readerIndex } ?? rest.readableBytes
            var packet = rest.readSlice(length: length)!
            rest.moveReaderIndex(forwardBy: min(1, rest.readableBytes))
            switch packet.readInteger(as: UInt8.self) {
            case UInt8(ascii: "4"):
                delegate?.engineMessageReceived(packet)
            case UInt8(ascii: "2"):
                var pong = ByteBufferAllocator().buffer(capacity: 1 + packet.readableBytes)
                pong.writeInteger(UInt8(ascii: "3"))
                pong.writeImmutableBuffer(packet)
                send(pong)
                flush()
            case UInt8(ascii: "0"):
                opened(handshake: packet)
            case UInt8(ascii: "1"):
                end(reason: "server closed the session")
            default:
                break  // noop
            }
        }
    }

    private func opened(handshake json: ByteBuffer) {
        guard postHead == nil else { return }
        let handshake: EngineHandshake
        do {
            handshake = try EngineHandshake(json: json)
        } catch {
            end(reason: "bad open packet: \(error)")
            return
        }
        getHead.uri = "\(target.engineTarget)&sid=\(handshake.sid)"
        var post = getHead
        post.method = .POST
        post.headers.add(name: "Content-Type", value: "text/plain;charset=UTF-8")
        postHead = post
        delegate?.engineOpened()
        flush()
    }

    private func end(reason: String) {
        guard !isEnded else { return }
        isEnded = true
        outbox.removeAll()
        for channel in channels { channel.close(promise: nil) }
        channels.removeAll()
        connections.removeAll()
        let delegate = self.delegate
        self.delegate = nil
        delegate?.engineClosed(reason: reason)
    }
}
