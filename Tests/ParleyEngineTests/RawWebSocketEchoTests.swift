import Logging
import NIOCore
import NIOEmbedded
@_spi(Testing) import ParleyEngine
import ParleyProtocol
import Testing

/// The raw WebSocket echo that conformance suites run against (`Tests/Autobahn/run.sh`): the
/// engine's upgrader, frame parser and frame writer on an `EmbeddedChannel`, exact bytes.
@Suite("Raw WebSocket echo")
struct RawWebSocketEchoTests {
    @Test func echoesTextAndBinaryMessagesAndAnswersPings() throws {
        let connection = try RawEchoConnection()
        #expect(connection.afterUpgrade.isEmpty, "no frame before the client sends one")
        #expect(try connection.send(Self.frame(0x1, Array("héllo".utf8))) == [0x81, 6] + Array("héllo".utf8))
        #expect(try connection.send(Self.frame(0x2, [0, 1, 2])) == [0x82, 3, 0, 1, 2])
        #expect(try connection.send(Self.frame(0x9, Array("p".utf8))) == [0x8A, 1, UInt8(ascii: "p")])
        let fragmented = Self.frame(0x1, Array("ab".utf8), fin: false) + Self.frame(0x0, Array("c".utf8))
        #expect(try connection.send(fragmented) == [0x81, 3] + Array("abc".utf8))
    }

    @Test func echoesAValidCloseCode() throws {
        let connection = try RawEchoConnection()
        #expect(try connection.send(Self.frame(0x8, [0x03, 0xE8] + Array("bye".utf8))) == [0x88, 2, 0x03, 0xE8])
    }

    @Test func failsATextMessageThatIsNotUTF8With1007() throws {
        let connection = try RawEchoConnection()
        #expect(try connection.send(Self.frame(0x1, [0xC3, 0x28])) == [0x88, 2, 0x03, 0xEF])
    }

    @Test(arguments: [[0x03], [0x00, 0x00], [0x03, 0xE7], [0x03, 0xEC], [0x03, 0xED], [0x03, 0xEE], [0x04, 0x4C], [0x13, 0x88], [0x03, 0xE8, 0xFF]] as [[UInt8]])
    func answersAnInvalidCloseBodyWith1002(body: [UInt8]) throws {
        let connection = try RawEchoConnection()
        #expect(try connection.send(Self.frame(0x8, body)) == [0x88, 2, 0x03, 0xEA])
    }

    @Test func leavesTheEnginePathToEngineIO() throws {
        let connection = try RawEchoConnection(path: "/engine.io/?EIO=4&transport=websocket")
        let open = connection.afterUpgrade
        #expect(open.first == 0x81)
        #expect(String(decoding: open.dropFirst(2).prefix(8), as: UTF8.self) == #"0{"sid":"#)
    }

    /// A masked client frame with a short payload.
    static func frame(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true) -> [UInt8] {
        let key: [UInt8] = [0x0F, 0xA0, 0x55, 0x3C]
        precondition(payload.count < 126)
        return [(fin ? 0x80 : 0) | opcode, 0x80 | UInt8(payload.count)] + key
            + payload.enumerated().map { $0.element ^ key[$0.offset % 4] }
    }
}

/// One upgraded connection to a server core whose `/raw` path is a raw echo.
private struct RawEchoConnection {
    let loop = EmbeddedEventLoop()
    let channel: EmbeddedChannel
    /// What the server wrote after the `101` answer, before the client sent anything.
    let afterUpgrade: [UInt8]

    init(path: String = "/raw") throws {
        var configuration = EngineConfiguration()
        configuration.rawWebSocketEchoPath = "/raw"
        let harness = EngineConnectionHarness(configuration: configuration, handler: Silent(), logger: Logger(label: "test.raw-echo"))
        channel = EmbeddedChannel(loop: loop)
        try harness.configure(channel)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let answer = try Self.exchange(Array("""
            GET \(path) HTTP/1.1\r
            Host: x\r
            Upgrade: websocket\r
            Connection: Upgrade\r
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r
            Sec-WebSocket-Version: 13\r
            \r

            """.utf8), on: channel, loop: loop)
        let end = try #require(answer.firstRange(of: Array("\r\n\r\n".utf8))).upperBound
        let head = String(decoding: answer[..<end], as: UTF8.self)
        try #require(head.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"), "\(head)")
        afterUpgrade = Array(answer[end...])
    }

    /// Writes `bytes`, runs the loop and returns every byte the server wrote back.
    func send(_ bytes: [UInt8]) throws -> [UInt8] {
        try Self.exchange(bytes, on: channel, loop: loop)
    }

    private static func exchange(_ bytes: [UInt8], on channel: EmbeddedChannel, loop: EmbeddedEventLoop) throws -> [UInt8] {
        try channel.writeInbound(ByteBuffer(bytes: bytes))
        loop.run()
        var bytes: [UInt8] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            bytes += buffer.readableBytesView
        }
        return bytes
    }
}

private struct Silent: EngineHandler {
    func sessionOpened(_ session: EngineSession) {}
    func session(_ session: EngineSession, received message: EngineMessage) {}
    func session(_ session: EngineSession, closedWith reason: EngineCloseReason) {}
}
