import NIOCore
import NIOWebSocket
@testable import ParleyEngine
import ParleyProtocol
import ParleyTesting
import Testing

/// Direct WebSocket sessions against a live server (`Protocol/engine.md` § 6).
@Suite("WebSocket transport (live)")
struct WebSocketTransportTests {
    @Test func aDirectSessionOffersNoUpgradesAndEchoesTextAndBinaryInOrder() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let (socket, handshake) = try await server.webSocketHandshake()
        #expect(handshake.upgrades.isEmpty)
        #expect(handshake.sid.count == 20)
        for index in 0..<10 {
            if index.isMultiple(of: 2) {
                socket.send(text: "4m\(index) é")
            } else {
                socket.send(binary: [UInt8(index), 0, 255])
            }
        }
        for index in 0..<10 {
            let frame = try #require(try await socket.nextFrame())
            if index.isMultiple(of: 2) {
                #expect(frame.opcode == .text)
                #expect(String(buffer: frame.unmaskedData) == "4m\(index) é")
            } else {
                #expect(frame.opcode == .binary)
                #expect(Array(frame.unmaskedData.readableBytesView) == [UInt8(index), 0, 255])
            }
        }
        await socket.close()
        #expect(try await server.recorder.nextClose(sid: handshake.sid).code == .transportClose)
    }

    @Test func aMessageAboveMaxPayloadClosesWith1009() async throws {
        let server = try await EngineTestServer.start { $0.maxPayloadBytes = 1_000 }
        defer { Task { await server.stop() } }
        let (socket, handshake) = try await server.webSocketHandshake()
        socket.send(text: "4" + String(repeating: "z", count: 2_000))
        #expect(try await socket.closeCode() == .messageTooLarge)
        #expect(try await server.recorder.nextClose(sid: handshake.sid).code == .payloadTooLarge)
    }

    @Test func aFragmentedMessageAboveMaxPayloadClosesWith1009() async throws {
        let server = try await EngineTestServer.start { $0.maxPayloadBytes = 1_000 }
        defer { Task { await server.stop() } }
        let (socket, handshake) = try await server.webSocketHandshake()
        socket.send(WebSocketFrame(fin: false, opcode: .text, maskKey: .random(), data: ByteBuffer(string: "4" + String(repeating: "a", count: 700))))
        socket.send(WebSocketFrame(fin: true, opcode: .continuation, maskKey: .random(), data: ByteBuffer(string: String(repeating: "b", count: 700))))
        #expect(try await socket.closeCode() == .messageTooLarge)
        #expect(try await server.recorder.nextClose(sid: handshake.sid).code == .payloadTooLarge)
    }

    @Test func anUnmaskedFrameClosesWithProtocolError() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let (socket, handshake) = try await server.webSocketHandshake()
        socket.send(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: "4hi")))
        #expect(try await socket.closeCode() == .protocolError)
        #expect(try await server.recorder.nextClose(sid: handshake.sid).code == .transportError)
    }

    @Test(arguments: [
        [0x83, 0x80, 1, 2, 3, 4] as [UInt8],  // reserved opcode 3
        [0xF1, 0x80, 1, 2, 3, 4],  // reserved bits set
        [0x81, 0x05, 0x34, 0x68, 0x65, 0x6C, 0x6F],  // unmasked
    ])
    func brokenFramingEndsTheSessionWithProtocolErrorAndNotTheServer(bytes: [UInt8]) async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let (socket, handshake) = try await server.webSocketHandshake()
        socket.sendRaw(bytes)
        #expect(try await socket.closeCode() == .protocolError)
        #expect(try await server.recorder.nextClose(sid: handshake.sid).code == .transportError)
        _ = try await server.webSocketHandshake()
    }

    @Test func aStalledPartialFrameIsEndedByTheHeartbeat() async throws {
        let server = try await EngineTestServer.start {
            $0.pingInterval = .milliseconds(100)
            $0.pingTimeout = .milliseconds(100)
        }
        defer { Task { await server.stop() } }
        let (socket, handshake) = try await server.webSocketHandshake()
        // A valid text frame header announcing 19 bytes, then nothing: the frame never completes.
        socket.sendRaw([0x81, 0xFE, 0x00, 0x13, 0x37, 0x42, 0x42, 0x42])
        #expect(try await server.recorder.nextClose(sid: handshake.sid).code == .pingTimeout)
        #expect(await socket.waitForClose())
    }

    @Test func anUndecodablePacketEndsTheSessionWithParseError() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let (socket, handshake) = try await server.webSocketHandshake()
        socket.send(text: "9nope")
        #expect(try await socket.closeCode() == .protocolError)
        #expect(try await server.recorder.nextClose(sid: handshake.sid).code == .parseError)
    }

    @Test func invalidUTF8ClosesWith1007() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let (socket, handshake) = try await server.webSocketHandshake()
        socket.send(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(bytes: [0x34, 0xC3, 0x28])))
        #expect(try await socket.closeCode() == .dataInconsistentWithMessage)
        #expect(try await server.recorder.nextClose(sid: handshake.sid).code == .transportError)
    }

    @Test func aClientClosePacketEndsTheSession() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let (socket, handshake) = try await server.webSocketHandshake()
        socket.send(text: "1")
        #expect(try await socket.closeCode() == .normalClosure)
        #expect(try await server.recorder.nextClose(sid: handshake.sid).code == .transportClose)
    }

    @Test func aServerCloseSendsTheClosePacketThenACloseFrame() async throws {
        let server = try await EngineTestServer.start(echo: false)
        defer { Task { await server.stop() } }
        let (socket, handshake) = try await server.webSocketHandshake()
        try #require(server.server.session(id: handshake.sid)).close()
        #expect(try await socket.nextText() == "1")
        #expect(try await socket.closeCode() == .normalClosure)
        let reason = try await server.recorder.nextClose(sid: handshake.sid)
        #expect(reason.code == .forcedClose, "\(reason)")
    }

    @Test func webSocketControlPingsAreAnsweredWithPongs() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let (socket, _) = try await server.webSocketHandshake()
        socket.send(WebSocketFrame(fin: true, opcode: .ping, maskKey: .random(), data: ByteBuffer(string: "hb")))
        let frame = try #require(try await socket.nextFrame())
        #expect(frame.opcode == .pong)
        #expect(String(buffer: frame.unmaskedData) == "hb")
    }

    @Test func aClientThatStopsReadingIsClosedAsASlowConsumer() async throws {
        let server = try await EngineTestServer.start(echo: false) { $0.maxQueuedPackets = 64 }
        defer { Task { await server.stop() } }
        let (socket, handshake) = try await server.webSocketHandshake()
        try await socket.channel.setOption(ChannelOptions.autoRead, value: false)
        let session = try #require(server.server.session(id: handshake.sid))
        let chunk = EngineMessage(text: String(repeating: "z", count: 64 * 1024))
        // Far more than the socket buffers hold: the connection stops being writable and the
        // session's queue fills up to its bound.
        try await session.eventLoop.submit {
            for _ in 0..<2_000 where session.send(chunk) {}
        }.get()
        #expect(try await server.recorder.nextClose(sid: handshake.sid).code == .slowConsumer)
        #expect(server.server.session(id: handshake.sid) == nil)
        // The connection ends: reading again, the client gets what the kernel buffered, then
        // the close frame (1013, try again later), then the end of the stream.
        try await socket.channel.setOption(ChannelOptions.autoRead, value: true)
        socket.channel.read()
        var messages = 0
        var closeCode: WebSocketErrorCode?
        while let frame = try await socket.nextFrame(timeout: .seconds(5)) {
            if frame.opcode == .text, frame.unmaskedData.readableBytes == chunk.byteCount + 1 { messages += 1 }
            if frame.opcode == .connectionClose {
                var data = frame.unmaskedData
                closeCode = data.readWebSocketErrorCode()
            }
        }
        #expect(messages > 0 && messages < 2_000, "\(messages) messages before the close")
        #expect(closeCode == WebSocketErrorCode(codeNumber: 1013))
    }

    @Test func volatileMessagesAreDroppedWhileTheClientIsNotReading() async throws {
        let server = try await EngineTestServer.start(echo: false)
        defer { Task { await server.stop() } }
        let (socket, handshake) = try await server.webSocketHandshake()
        try await socket.channel.setOption(ChannelOptions.autoRead, value: false)
        let session = try #require(server.server.session(id: handshake.sid))
        let filler = String(repeating: "v", count: 64 * 1024)
        var accepted: [Int] = []
        // One message per event-loop tick, so each is flushed before the next is offered. The
        // client reads nothing, so once the connection is above its high-water mark it stays
        // there: every message up to that point is queued, every one after it dropped.
        for index in 0..<2_000 {
            let message = EngineMessage(text: "\(index) " + filler)
            if try await session.eventLoop.submit({ session.sendVolatile(message) }).get() { accepted.append(index) }
        }
        #expect(!accepted.isEmpty && accepted.count < 2_000, "accepted \(accepted.count)")
        #expect(accepted == Array(0..<accepted.count), "accepted after a drop: \(accepted.filter { $0 >= accepted.count })")
        #expect(server.server.session(id: handshake.sid) != nil)

        // Reading again, the client gets exactly the accepted messages in order, then the
        // next one sent: nothing dropped arrives late.
        try await socket.channel.setOption(ChannelOptions.autoRead, value: true)
        socket.channel.read()
        #expect(try await session.eventLoop.submit { session.send(EngineMessage(text: "after")) }.get())
        var received: [Int] = []
        while true {
            let text = try await socket.nextText(timeout: .seconds(5))
            if text == "2" { continue }  // a heartbeat ping, if one falls in here
            if text == "4after" { break }
            received.append(Int(text.dropFirst().prefix { $0 != " " }) ?? -1)
        }
        #expect(received == accepted)
        // With the backlog gone, a volatile message is taken again.
        #expect(try await session.eventLoop.submit { session.sendVolatile(EngineMessage(text: "fresh")) }.get())
        #expect(try await socket.nextText(timeout: .seconds(5)) == "4fresh")
    }
}
