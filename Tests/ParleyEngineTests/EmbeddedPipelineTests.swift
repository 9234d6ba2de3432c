import Logging
import NIOCore
import NIOEmbedded
@testable import ParleyEngine
import ParleyProtocol
import Synchronization
import Testing

/// The connection pipeline of ``EngineServer`` on `EmbeddedChannel`s, asserting the exact bytes
/// on the wire (`Protocol/engine.md` §3, §5, §6, §8, §10) with virtual time.
///
/// Every test builds its own `EmbeddedEventLoop` in its body: the loop may only be used from the
/// thread that created it. Each HTTP request gets its own connection on that loop, as a browser
/// polling client would have.
@Suite("Embedded pipeline")
struct EmbeddedPipelineTests {
    @Test func answersTheHandshakeWithTheOpenPacket() throws {
        let engine = EmbeddedEngine()
        let response = try engine.exchange("GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
        let sid = try #require(EmbeddedEngine.sid(in: response))

        #expect(sid.utf8.count == 20)
        #expect(sid.utf8.allSatisfy { EmbeddedEngine.sidAlphabet.contains($0) }, "\(sid)")
        #expect(response.replacing(sid, with: "<sid>") == """
            HTTP/1.1 200 OK\r
            Content-Type: text/plain; charset=UTF-8\r
            Content-Length: 114\r
            Cache-Control: no-store\r
            \r
            0{"sid":"<sid>","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}
            """)
        #expect(engine.recorder.events == [.opened(sid)])
    }

    @Test func answersAnUnsupportedProtocolVersionWithJSONErrorFive() throws {
        let engine = EmbeddedEngine()
        let response = try engine.exchange("GET /engine.io/?EIO=3&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(response == """
            HTTP/1.1 400 Bad Request\r
            Content-Type: application/json\r
            Content-Length: 51\r
            Cache-Control: no-store\r
            \r
            {"code":5,"message":"Unsupported protocol version"}
            """)
        #expect(engine.recorder.events.isEmpty)
        #expect(engine.core.sessionCount == 0)
    }

    @Test func acknowledgesAPostedMessageAndReturnsTheEchoOnTheNextGet() throws {
        let engine = EmbeddedEngine()
        let sid = try engine.handshake()

        let post = try engine.exchange("""
            POST /engine.io/?EIO=4&transport=polling&sid=\(sid) HTTP/1.1\r
            Host: x\r
            Content-Type: text/plain;charset=UTF-8\r
            Content-Length: 3\r
            \r
            4hi
            """)
        #expect(post == """
            HTTP/1.1 200 OK\r
            Content-Type: text/html\r
            Content-Length: 2\r
            Cache-Control: no-store\r
            \r
            ok
            """)
        #expect(engine.recorder.events == [.opened(sid), .received(sid, EngineMessage(text: "hi"))])

        let get = try engine.exchange("GET /engine.io/?EIO=4&transport=polling&sid=\(sid) HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(get == """
            HTTP/1.1 200 OK\r
            Content-Type: text/plain; charset=UTF-8\r
            Content-Length: 3\r
            Cache-Control: no-store\r
            \r
            4hi
            """)
    }

    @Test func pingsAfterTheIntervalAndClosesTheSessionWhenNoPongArrives() throws {
        let engine = EmbeddedEngine()
        let sid = try engine.handshake()

        let poll = try engine.connect()
        #expect(try engine.send("GET /engine.io/?EIO=4&transport=polling&sid=\(sid) HTTP/1.1\r\nHost: x\r\n\r\n", on: poll) == "")
        engine.advance(by: .milliseconds(299))
        #expect(try poll.outboundText() == "", "no ping before pingInterval")
        engine.advance(by: .milliseconds(1))
        #expect(try poll.outboundText() == EmbeddedEngine.pollingBody("2"))

        engine.advance(by: .milliseconds(199))
        #expect(!engine.recorder.events.contains(.closed(sid, .pingTimeout)), "the pong may still arrive")
        engine.advance(by: .milliseconds(1))
        #expect(engine.recorder.events == [.opened(sid), .closed(sid, .pingTimeout)])
        #expect(engine.core.sessionCount == 0)

        let late = try engine.exchange("GET /engine.io/?EIO=4&transport=polling&sid=\(sid) HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(late == """
            HTTP/1.1 400 Bad Request\r
            Content-Type: application/json\r
            Content-Length: 41\r
            Cache-Control: no-store\r
            \r
            {"code":1,"message":"Session ID unknown"}
            """)
    }

    @Test func answersThePendingGetWithCloseWhenThePongIsLate() throws {
        let engine = EmbeddedEngine()
        let sid = try engine.handshake()
        engine.advance(by: .milliseconds(300)) // the ping is queued, nobody polls yet

        let ping = try engine.exchange("GET /engine.io/?EIO=4&transport=polling&sid=\(sid) HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(ping == EmbeddedEngine.pollingBody("2"))

        let poll = try engine.connect()
        #expect(try engine.send("GET /engine.io/?EIO=4&transport=polling&sid=\(sid) HTTP/1.1\r\nHost: x\r\n\r\n", on: poll) == "")
        engine.advance(by: .milliseconds(200))
        #expect(try poll.outboundText() == EmbeddedEngine.pollingBody("1"))
        #expect(engine.recorder.events == [.opened(sid), .closed(sid, .pingTimeout)])
    }

    @Test func schedulesTheNextPingAnIntervalAfterThePong() throws {
        let engine = EmbeddedEngine()
        let sid = try engine.handshake()
        engine.advance(by: .milliseconds(300))
        #expect(try engine.exchange("GET /engine.io/?EIO=4&transport=polling&sid=\(sid) HTTP/1.1\r\nHost: x\r\n\r\n") == EmbeddedEngine.pollingBody("2"))

        engine.advance(by: .milliseconds(150)) // t = 450 ms: pong, next ping due at 750 ms
        let pong = try engine.exchange("""
            POST /engine.io/?EIO=4&transport=polling&sid=\(sid) HTTP/1.1\r
            Host: x\r
            Content-Length: 1\r
            \r
            3
            """)
        #expect(pong.hasSuffix("\r\n\r\nok"), "\(pong)")

        let poll = try engine.connect()
        #expect(try engine.send("GET /engine.io/?EIO=4&transport=polling&sid=\(sid) HTTP/1.1\r\nHost: x\r\n\r\n", on: poll) == "")
        engine.advance(by: .milliseconds(299))
        #expect(try poll.outboundText() == "", "the pong re-arms from its own instant")
        engine.advance(by: .milliseconds(1))
        #expect(try poll.outboundText() == EmbeddedEngine.pollingBody("2"))
        #expect(engine.recorder.events == [.opened(sid)], "the session survived the first round")
    }

    @Test func opensADirectWebSocketSessionAndEchoesATextFrame() throws {
        let engine = EmbeddedEngine()
        let channel = try engine.connect()
        try channel.writeInbound(ByteBuffer(string: EmbeddedEngine.webSocketRequest()))
        engine.loop.run()
        let bytes = try channel.outboundBytes()
        let headEnd = try #require(bytes.firstRange(of: Array("\r\n\r\n".utf8))).upperBound
        let head = String(decoding: bytes[..<headEnd], as: UTF8.self)
        #expect(head == EmbeddedEngine.switchingProtocols)

        let frame = Array(bytes[headEnd...])
        let text = String(decoding: frame.dropFirst(2), as: UTF8.self)
        let sid = try #require(EmbeddedEngine.sid(in: text))
        let open = #"0{"sid":"<sid>","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#
        #expect(Array(frame.prefix(2)) == [0x81, 103], "one final text frame, unmasked, 103 bytes")
        #expect(text.replacing(sid, with: "<sid>") == open)
        #expect(engine.recorder.events == [.opened(sid)])

        #expect(try engine.sendFrame("4hello", on: channel) == [0x81, 0x06] + Array("4hello".utf8))
        #expect(engine.recorder.events == [.opened(sid), .received(sid, EngineMessage(text: "hello"))])
    }

    @Test func upgradesAPollingSessionAndFlushesWhatWasQueuedOnTheWebSocket() throws {
        let engine = EmbeddedEngine()
        let sid = try engine.handshake()
        let poll = try engine.connect()
        #expect(try engine.send("GET /engine.io/?EIO=4&transport=polling&sid=\(sid) HTTP/1.1\r\nHost: x\r\n\r\n", on: poll) == "")

        let probe = try engine.connect()
        #expect(try engine.send(EmbeddedEngine.webSocketRequest(sid: sid), on: probe) == EmbeddedEngine.switchingProtocols)

        #expect(try engine.sendFrame("2probe", on: probe) == [0x81, 0x06] + Array("3probe".utf8))
        #expect(try poll.outboundText() == EmbeddedEngine.pollingBody("6"), "the pending GET is released")
        #expect(
            try engine.exchange("GET /engine.io/?EIO=4&transport=polling&sid=\(sid) HTTP/1.1\r\nHost: x\r\n\r\n") == EmbeddedEngine.pollingBody("6"),
            "while draining, a new GET is answered noop at once"
        )

        let post = try engine.exchange("""
            POST /engine.io/?EIO=4&transport=polling&sid=\(sid) HTTP/1.1\r
            Host: x\r
            Content-Length: 7\r
            \r
            4queued
            """)
        #expect(post.hasSuffix("\r\n\r\nok"), "POSTs are still processed while upgrading: \(post)")

        #expect(try engine.sendFrame("5", on: probe) == [0x81, 0x07] + Array("4queued".utf8), "the echo queued during the upgrade goes out on the WebSocket")
        #expect(try engine.sendFrame("4now", on: probe) == [0x81, 0x04] + Array("4now".utf8))

        let stale = try engine.exchange("GET /engine.io/?EIO=4&transport=polling&sid=\(sid) HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(stale == """
            HTTP/1.1 400 Bad Request\r
            Content-Type: application/json\r
            Content-Length: 34\r
            Cache-Control: no-store\r
            \r
            {"code":3,"message":"Bad request"}
            """)
        #expect(engine.recorder.events == [
            .opened(sid), .received(sid, EngineMessage(text: "queued")), .received(sid, EngineMessage(text: "now")),
        ])
    }

    /// `Protocol/engine.md` §7: a probe that sends anything but `2probe` first and `5` second is
    /// closed and the session continues on polling as if nothing happened.
    @Test func continuesOnPollingWhenTheProbeRepeatsItsPing() throws {
        let engine = EmbeddedEngine()
        let sid = try engine.handshake()
        let probe = try engine.connect()
        #expect(try engine.send(EmbeddedEngine.webSocketRequest(sid: sid), on: probe) == EmbeddedEngine.switchingProtocols)
        #expect(try engine.sendFrame("2probe", on: probe) == [0x81, 0x06] + Array("3probe".utf8))

        #expect(try engine.sendFrame("2probe", on: probe) == [0x88, 0x02, 0x03, 0xE8], "the probe is closed with 1000")
        #expect(!probe.isActive)

        // Nothing is queued, so a GET must now be held like on any polling session; it must
        // not be released with noop as if the upgrade were still draining.
        let poll = try engine.connect()
        let held = try engine.send("GET /engine.io/?EIO=4&transport=polling&sid=\(sid) HTTP/1.1\r\nHost: x\r\n\r\n", on: poll)
        #expect(held == "")
        let post = try engine.exchange("""
            POST /engine.io/?EIO=4&transport=polling&sid=\(sid) HTTP/1.1\r
            Host: x\r
            Content-Length: 3\r
            \r
            4hi
            """)
        #expect(post.hasSuffix("\r\n\r\nok"), "\(post)")
        let echo = try poll.outboundText()
        #expect(echo == EmbeddedEngine.pollingBody("4hi"), "the echo reaches the client over polling")

        let secondProbe = try engine.connect()
        #expect(try engine.send(EmbeddedEngine.webSocketRequest(sid: sid), on: secondProbe) == EmbeddedEngine.switchingProtocols)
        let answer = try engine.sendFrame("2probe", on: secondProbe)
        #expect(answer == [0x81, 0x06] + Array("3probe".utf8), "a later upgrade can succeed")
    }
}

// MARK: - Harness

/// One server core whose connections are `EmbeddedChannel`s on one virtual-time loop.
private struct EmbeddedEngine {
    static let sidAlphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    let loop = EmbeddedEventLoop()
    let recorder: SynchronousEngineRecorder
    let core: EngineServerCore

    init(echo: Bool = true) {
        var configuration = EngineConfiguration()
        configuration.pingInterval = .milliseconds(300)
        configuration.pingTimeout = .milliseconds(200)
        recorder = SynchronousEngineRecorder(echo: echo)
        core = EngineServerCore(configuration: configuration, handler: recorder, logger: Logger(label: "test.embedded"))
    }

    /// A new connected connection with the server's pipeline.
    func connect() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(loop: loop)
        try EngineServer.configure(channel, core: core)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    /// Writes `request` on `channel`, runs the loop and returns what the server wrote back.
    func send(_ request: String, on channel: EmbeddedChannel) throws -> String {
        try channel.writeInbound(ByteBuffer(string: request))
        loop.run()
        return try channel.outboundText()
    }

    /// Sends `request` on a fresh connection and returns the answer.
    func exchange(_ request: String) throws -> String {
        try send(request, on: try connect())
    }

    /// Opens a polling session and returns its sid.
    func handshake() throws -> String {
        let response = try exchange("GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
        return try #require(Self.sid(in: response))
    }

    /// Moves virtual time forward, running every timer and task that falls due.
    func advance(by amount: TimeAmount) {
        loop.advanceTime(by: amount)
        loop.run()
    }

    /// The `101` answer to ``webSocketRequest(sid:)``, for its fixed `Sec-WebSocket-Key`.
    static let switchingProtocols = """
        HTTP/1.1 101 Switching Protocols\r
        Upgrade: websocket\r
        Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r
        Connection: upgrade\r
        \r

        """

    /// A WebSocket upgrade request: a direct session, or a probe for `sid`.
    static func webSocketRequest(sid: String? = nil) -> String {
        """
        GET /engine.io/?EIO=4&transport=websocket\(sid.map { "&sid=\($0)" } ?? "") HTTP/1.1\r
        Host: x\r
        Upgrade: websocket\r
        Connection: Upgrade\r
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r
        Sec-WebSocket-Version: 13\r
        \r

        """
    }

    /// Writes `text` as one masked client text frame, runs the loop and returns the bytes the
    /// server wrote back.
    func sendFrame(_ text: String, on channel: EmbeddedChannel) throws -> [UInt8] {
        let mask: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
        let payload = Array(text.utf8)
        precondition(payload.count < 126, "short frames only")
        let masked = payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        try channel.writeInbound(ByteBuffer(bytes: [0x81, 0x80 | UInt8(payload.count)] + mask + masked))
        loop.run()
        return try channel.outboundBytes()
    }

    /// The 20-character sid of an open packet inside `text`.
    static func sid(in text: String) -> String? {
        guard let start = text.firstRange(of: #""sid":""#)?.upperBound else { return nil }
        let sid = text[start...].prefix(20)
        return sid.count == 20 ? String(sid) : nil
    }

    /// The complete `200` response of a GET carrying `body`.
    static func pollingBody(_ body: String) -> String {
        """
        HTTP/1.1 200 OK\r
        Content-Type: text/plain; charset=UTF-8\r
        Content-Length: \(body.utf8.count)\r
        Cache-Control: no-store\r
        \r
        \(body)
        """
    }
}

extension EmbeddedChannel {
    /// Every byte written so far, in order.
    fileprivate func outboundBytes() throws -> [UInt8] {
        var bytes: [UInt8] = []
        while let buffer = try readOutbound(as: ByteBuffer.self) {
            bytes += buffer.readableBytesView
        }
        return bytes
    }

    /// Every byte written so far, as text.
    fileprivate func outboundText() throws -> String {
        String(decoding: try outboundBytes(), as: UTF8.self)
    }
}

/// An ``EngineHandler`` that records events synchronously, for loops that run inline.
private final class SynchronousEngineRecorder: EngineHandler {
    enum Event: Sendable, Equatable {
        case opened(String)
        case received(String, EngineMessage)
        case closed(String, EngineCloseReason.Code)
    }

    private let recorded = Mutex<[Event]>([])
    private let echo: Bool

    init(echo: Bool) {
        self.echo = echo
    }

    var events: [Event] { recorded.withLock { $0 } }

    func sessionOpened(_ session: EngineSession) {
        recorded.withLock { $0.append(.opened(session.id)) }
    }

    func session(_ session: EngineSession, received message: EngineMessage) {
        recorded.withLock { $0.append(.received(session.id, message)) }
        if echo { session.send(message) }
    }

    func session(_ session: EngineSession, closedWith reason: EngineCloseReason) {
        recorded.withLock { $0.append(.closed(session.id, reason.code)) }
    }
}
