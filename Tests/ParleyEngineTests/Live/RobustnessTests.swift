import NIOCore
import NIOHTTP1
import NIOWebSocket
@testable import ParleyEngine
import ParleyProtocol
import ParleyTesting
import Testing

/// Churn and abuse: closed sessions are freed whatever closed them, a peer that never reads
/// cannot grow the server's buffers or keep its connection, and every state of an HTTP
/// connection has an idle rule (`Protocol/engine.md` § 6, § 9, § 10).
@Suite("Robustness (live)")
struct RobustnessTests {
    @Test func webSocketSessionsClosedByTheClientAreFreed() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        var sessions: [Weak<EngineSession>] = []
        for index in 0..<30 {
            let (socket, handshake) = try await server.webSocketHandshake()
            sessions.append(Weak(server.server.session(id: handshake.sid)))
            #expect(sessions.last?.object != nil)
            socket.send(text: "4hello")
            #expect(try await socket.nextText() == "4hello")
            // Every path by which a client leaves: close frame, close packet, bare TCP close.
            switch index % 3 {
            case 0: socket.sendClose()
            case 1: socket.send(text: "1")
            default: await socket.close()
            }
            _ = try await server.recorder.nextClose(sid: handshake.sid)
            #expect(await socket.waitForClose())
        }
        #expect(await eventually { sessions.allSatisfy { $0.object == nil } })
        #expect(await eventually { server.server.connectionCount == 0 })
    }

    @Test func webSocketSessionsEndedByTheHeartbeatAreFreed() async throws {
        let server = try await EngineTestServer.start {
            $0.pingInterval = .milliseconds(100)
            $0.pingTimeout = .milliseconds(100)
        }
        defer { Task { await server.stop() } }
        var sessions: [Weak<EngineSession>] = []
        var sockets: [RawWebSocket] = []
        for _ in 0..<10 {
            let (socket, handshake) = try await server.webSocketHandshake()
            sessions.append(Weak(server.server.session(id: handshake.sid)))
            sockets.append(socket)
        }
        for _ in 0..<10 {
            #expect(try await server.recorder.nextClose(timeout: .seconds(5)).code == .pingTimeout)
        }
        #expect(await eventually { sessions.allSatisfy { $0.object == nil } })
        for socket in sockets { #expect(await socket.waitForClose()) }
    }

    @Test func pollingSessionsOpenedOnOneKeepAliveConnectionAreFreedWhenTheyExpire() async throws {
        let server = try await EngineTestServer.start {
            $0.pingInterval = .milliseconds(100)
            $0.pingTimeout = .milliseconds(100)
            $0.maxRequestHeaderBytes = 64 * 1024
        }
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let padding = String(repeating: "p", count: 60_000)
        var sessions: [Weak<EngineSession>] = []
        for _ in 0..<20 {
            let response = try await connection.request("GET", server.pollingURI(), headers: [("X-Padding", padding)])
            guard case .open(let handshake) = try EnginePacketCodec.decode(text: response.body.getSlice(at: response.body.readerIndex, length: response.body.readableBytes)!) else {
                Issue.record("no open packet")
                return
            }
            sessions.append(Weak(server.server.session(id: handshake.sid)))
        }
        for _ in 0..<20 {
            #expect(try await server.recorder.nextClose(timeout: .seconds(5)).code == .pingTimeout)
        }
        // The connection that carried every handshake is still open, and holds none of them.
        #expect(await eventually { sessions.allSatisfy { $0.object == nil } })
        #expect(server.server.connectionCount == 1)
        await connection.close()
    }

    @Test func requestHeadersAboveTheLimitAreAnswered431AndTheConnectionClosed() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let padding = String(repeating: "p", count: 20_000)
        let connection = try await server.connection()
        let response = try await connection.request("GET", server.pollingURI(), headers: [("X-Padding", padding)])
        #expect(response.status == .requestHeaderFieldsTooLarge)
        #expect(await connection.waitForClose())
        let refusal = await #expect(throws: RawWebSocketRefused.self) {
            try await RawWebSocket.connect(port: server.port, uri: server.webSocketURI(), headers: [("X-Padding", padding)])
        }
        #expect(refusal?.response.hasPrefix("HTTP/1.1 431") == true)
        #expect(server.server.sessionCount == 0)
        // Just below the limit is fine.
        let fits = try await server.connection().request("GET", server.pollingURI(), headers: [("X-Padding", String(repeating: "p", count: 16_000))])
        #expect(fits.status == .ok)
    }

    @Test func aPingFloodFromAClientThatNeverReadsIsNotQueued() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let (socket, handshake) = try await server.webSocketHandshake(receiveBufferBytes: 64 * 1024)
        try await socket.setReading(false)
        // 100 000 pings with 125-byte payloads: 12.7 MB of pongs if every one were answered,
        // far more than the client's 64 KiB and the server's send buffer (at most 4 MiB) hold.
        let count = 100_000
        var frame: [UInt8] = [0x89, 0x80 | 125, 0, 0, 0, 0]
        frame += [UInt8](repeating: 0x61, count: 125)
        let batch = Array([[UInt8]](repeating: frame, count: 5_000).joined())
        for _ in 0..<(count / 5_000) { socket.sendRaw(batch) }
        // The server still serves the session: its echo arrives after the pongs it sent.
        socket.send(text: "4after the flood")
        #expect(try await server.recorder.nextMessage(sid: handshake.sid, timeout: .seconds(30)) == .text(ByteBuffer(string: "after the flood")))
        try await socket.setReading(true)
        var pongs = 0
        while true {
            let next = try #require(try await socket.nextFrame(timeout: .seconds(10)))
            if next.opcode == .pong { pongs += 1; continue }
            #expect(next.opcode == .text)
            #expect(String(buffer: next.unmaskedData) == "4after the flood")
            break
        }
        #expect(pongs > 0)
        #expect(pongs < count / 2, "pongs are answered only while the connection takes bytes")
    }

    @Test func aSessionEndedByTheHeartbeatClosesAConnectionThatNeverReads() async throws {
        let server = try await EngineTestServer.start {
            $0.pingInterval = .milliseconds(1_000)
            $0.pingTimeout = .milliseconds(500)
            $0.maxQueuedBytes = 256 * 1024 * 1024
        }
        defer { Task { await server.stop() } }
        let (socket, handshake) = try await server.webSocketHandshake(receiveBufferBytes: 64 * 1024)
        try await socket.setReading(false)
        // 15 MB echoed into a client that reads nothing: the server's writes block.
        let chunk = [UInt8](repeating: 7, count: 500_000)
        for _ in 0..<30 { socket.send(binary: chunk) }
        let blocked = await eventually { server.server.core.openConnections.contains { !$0.isWritable } }
        try #require(blocked, "the server's writes to the client are stuck")
        #expect(try await server.recorder.nextClose(sid: handshake.sid, timeout: .seconds(10)).code == .pingTimeout)
        #expect(await eventually(timeout: .seconds(6)) { server.server.connectionCount == 0 }, "the connection ends even though the close frame can never be sent")
    }

    @Test func aSlowConsumerIsClosedByBytesQueuedNotOnlyByPackets() async throws {
        let server = try await EngineTestServer.start { $0.maxQueuedBytes = 10_000 }
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let handshake = try await server.pollingHandshake(on: connection)
        let session = try #require(server.server.session(id: handshake.sid))
        let big = ByteBuffer(string: String(repeating: "x", count: 4_000))
        // No GET is held: the messages queue, and the third passes 10 000 bytes.
        for _ in 0..<3 { session.send(.text(big)) }
        let reason = try await server.recorder.nextClose(sid: handshake.sid)
        #expect(reason.code == .slowConsumer)
    }

    @Test func aRequestWhoseBodyNeverArrivesIsClosedAfterTheIdleTimeout() async throws {
        let server = try await EngineTestServer.start { $0.idleConnectionTimeout = .milliseconds(500) }
        defer { Task { await server.stop() } }
        let clock = ContinuousClock()
        let started = clock.now
        let connections = try await withThrowingTaskGroup(of: RawHTTPConnection.self) { group in
            for _ in 0..<3 { group.addTask { try await server.connection() } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        connections[0].sendPartial("GET", "/x", contentLength: 10, bodyPrefix: [])
        connections[1].sendPartial("POST", server.pollingURI(sid: "unknown-sid-000000000"), contentLength: 10, bodyPrefix: [1, 2])
        connections[2].sendPartial("GET", server.pollingURI(), contentLength: 10, bodyPrefix: [])
        for connection in connections {
            #expect(await connection.waitForClose(timeout: .seconds(5)))
        }
        #expect(clock.now - started >= .milliseconds(450))
    }

    @Test func aHeldLongPollIsNotIdle() async throws {
        let server = try await EngineTestServer.start {
            $0.idleConnectionTimeout = .milliseconds(200)
            $0.pingInterval = .seconds(5)
        }
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let handshake = try await server.pollingHandshake(on: connection)
        connection.send("GET", server.pollingURI(sid: handshake.sid))
        #expect(await connection.waitForClose(timeout: .seconds(1)) == false)
        try #require(server.server.session(id: handshake.sid)).send(.text(ByteBuffer(string: "late")))
        #expect(try await connection.response().text == "4late")
    }
}
