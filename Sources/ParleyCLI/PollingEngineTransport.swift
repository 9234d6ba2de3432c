import NIOCore
import NIOHTTP1
import NIOPosix
import ParleyProtocol

/// The long-polling transport of a bench client: two keep-alive HTTP/1.1 connections, one that
/// always holds the next GET, one that carries POSTs (one at a time; packets queued meanwhile
/// go together in the next body, joined by the record separator).
///
/// With `upgrade`, it probes a WebSocket as soon as the session is open and hands the session
/// over to it (Protocol/engine.md §7, in `PollingEngineTransport+Upgrade.swift`); from then on
/// it only forwards to that WebSocket.
final class PollingEngineTransport: EngineTransport {
    private static let separator: UInt8 = 0x1E

    /// Where the session is in the upgrade to WebSocket.
    enum UpgradePhase {
        /// On polling: no upgrade asked for, not started yet, or failed.
        case polling
        /// The probe WebSocket is connecting or waiting for `3probe`.
        case probing(WebSocketEngineHandler?)
        /// `3probe` arrived: no new GET or POST until the ones in flight are answered.
        case pausing(WebSocketEngineHandler)
        /// The WebSocket carries the session; the HTTP connections are closed.
        case upgraded(WebSocketEngineHandler)
    }

    let target: BenchTarget
    let index: Int
    let loop: any EventLoop
    let upgradeRequested: Bool
    var delegate: (any EngineTransportDelegate)?
    var upgrade = UpgradePhase.polling
    private var connections: [PollingHTTPConnection.Role: PollingHTTPConnection] = [:]
    private var channels: [PollingHTTPConnection.Role: any Channel] = [:]
    private var getHead: HTTPRequestHead
    private var postHead: HTTPRequestHead?
    private var outbox: [ByteBuffer] = []
    private(set) var isGetInFlight = false
    private(set) var isPostInFlight = false
    private var isPostConnected = false
    private var isReadingStopped = false
    /// Set once the engine close packet went out in a POST: its answer ends the session.
    private var isGoodbyeSent = false
    private var isGoodbyeQueued = false
    private(set) var isEnded = false
    private var answersPingsOnPolling = true

    var answersPings: Bool {
        get {
            if case .upgraded(let webSocket) = upgrade { webSocket.answersPings } else { answersPingsOnPolling }
        }
        set {
            if case .upgraded(let webSocket) = upgrade { webSocket.answersPings = newValue } else { answersPingsOnPolling = newValue }
        }
    }

    private init(delegate: any EngineTransportDelegate, target: BenchTarget, index: Int, loop: any EventLoop, upgrade: Bool) {
        self.delegate = delegate
        self.target = target
        self.index = index
        self.loop = loop
        self.upgradeRequested = upgrade
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: target.authority)
        self.getHead = HTTPRequestHead(version: .http1_1, method: .GET, uri: target.engineTarget, headers: headers)
    }

    /// Connects `socket` over long-polling, then with `upgrade` moves it to WebSocket; runs on
    /// the socket's loop.
    static func connect(_ socket: BenchSocket, target: BenchTarget, index: Int, upgrade: Bool) {
        let transport = PollingEngineTransport(delegate: socket, target: target, index: index, loop: socket.loop, upgrade: upgrade)
        socket.transport = transport
        transport.openConnection(.get)
        transport.openConnection(.post)
    }

    private func openConnection(_ role: PollingHTTPConnection.Role) {
        let bound = NIOLoopBound(self, eventLoop: loop)
        target.bootstrap(on: loop, index: index)
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

    private func attach(_ connection: PollingHTTPConnection, channel: any Channel) {
        if isEnded {
            channel.close(promise: nil)
            return
        }
        connections[connection.role] = connection
        channels[connection.role] = channel
    }

    // MARK: events from the HTTP connections

    func connectionBecameActive(_ role: PollingHTTPConnection.Role) {
        switch role {
        case .get:
            sendGet()  // the handshake
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
            isGetInFlight = false
            packetsReceived(body)
        case .post:
            isPostInFlight = false
            if isGoodbyeSent {
                end(reason: "closed")
                return
            }
        }
        if isEnded { return }
        if case .pausing = upgrade {
            completeUpgradeIfIdle()
            return
        }
        if role == .get { sendGet() } else { flush() }
    }

    func connectionClosed(_ role: PollingHTTPConnection.Role) {
        if case .upgraded = upgrade { return }  // we closed them ourselves
        if role == .post, !isPostInFlight, !isEnded, !isReadingStopped {
            // The server closes a keep-alive connection that stays idle (Protocol/engine.md
            // §10); the session does not depend on it (§5.4): open another for the next POST.
            connections[.post] = nil
            channels[.post] = nil
            isPostConnected = false
            openConnection(.post)
            return
        }
        end(reason: "\(role == .get ? "GET" : "POST") connection closed")
    }

    // MARK: EngineTransport

    func send(_ packet: ByteBuffer) {
        if case .upgraded(let webSocket) = upgrade {
            webSocket.send(packet)
        } else {
            outbox.append(packet)
        }
    }

    func flush() {
        if case .upgraded(let webSocket) = upgrade { return webSocket.flush() }
        if case .pausing = upgrade { return }  // the queue goes out on the WebSocket
        guard !isEnded, !isPostInFlight, !isReadingStopped, isPostConnected, let postHead, !outbox.isEmpty else { return }
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
        isGoodbyeSent = isGoodbyeQueued
        var head = postHead
        head.headers.replaceOrAdd(name: "Content-Length", value: String(body.readableBytes))
        isPostInFlight = true
        connections[.post]?.send(head, body: body)
    }

    func close(_ manner: EngineCloseManner) {
        if case .upgraded(let webSocket) = upgrade { return webSocket.close(manner) }
        switch manner {
        case .goodbye where postHead != nil && !isReadingStopped:
            // The engine close packet; the server answers the POST (and a pending GET with `6`).
            isGoodbyeQueued = true
            send(ByteBuffer(string: "1"))
            flush()
        case .reset:
            for channel in channels.values { channel.resetAndClose() }
            channels.removeAll()
            end(reason: "closed")
        case .goodbye, .abandon:
            end(reason: "closed")
        }
    }

    func stopReading() {
        if case .upgraded(let webSocket) = upgrade { return webSocket.stopReading() }
        isReadingStopped = true
        for channel in channels.values { channel.setAutoRead(false) }
    }

    func resumeReading() {
        if case .upgraded(let webSocket) = upgrade { return webSocket.resumeReading() }
        isReadingStopped = false
        for channel in channels.values { channel.setAutoRead(true) }
        if !isGetInFlight { sendGet() }
        flush()
    }

    // MARK: private

    /// Sends the next long-polling GET, unless one is in flight or reading is stopped.
    func sendGet() {
        guard !isEnded, !isGetInFlight, !isReadingStopped else { return }
        isGetInFlight = true
        connections[.get]?.send(getHead, body: nil)
    }

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
                delegate?.enginePingReceived(answered: answersPings)
                guard answersPings else { break }
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
        delegate?.engineOpened(handshake: json)
        flush()
        if upgradeRequested, !isEnded {
            if handshake.upgrades.contains(.websocket) {
                startUpgrade(sid: handshake.sid)
            } else {
                delegate?.engineUpgradeFailed(reason: "the open packet offers no WebSocket upgrade")
            }
        }
    }

    /// The packets queued for the next POST, taken off the queue.
    func takeOutbox() -> [ByteBuffer] {
        defer { outbox.removeAll() }
        return outbox
    }

    /// Closes the HTTP connections (the session goes on if it moved to WebSocket).
    func closeConnections() {
        let channels = self.channels.values
        self.channels.removeAll()
        connections.removeAll()
        for channel in channels { channel.close(promise: nil) }
    }

    func end(reason: String) {
        guard !isEnded else { return }
        isEnded = true
        outbox.removeAll()
        closeConnections()
        switch upgrade {
        case .probing(let webSocket?), .pausing(let webSocket):
            upgrade = .polling
            webSocket.close()
        case .probing(nil), .polling, .upgraded:
            break
        }
        let delegate = self.delegate
        self.delegate = nil
        delegate?.engineClosed(reason: reason)
    }
}
