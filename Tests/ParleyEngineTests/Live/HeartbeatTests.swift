import NIOCore
import NIOWebSocket
@testable import ParleyEngine
import ParleyProtocol
import ParleyTesting
import Testing

/// The server-driven heartbeat on real sockets with short timers (`Protocol/engine.md` § 8).
///
/// Lower bounds are exact (never early); upper bounds are generous so that a busy 2-core
/// machine running every suite at once does not fail them. The deterministic timing checks
/// are the virtual-time tests in `EmbeddedPipelineTests`.
@Suite("Heartbeat (live)", .serialized)
struct HeartbeatTests {
    static func start(pingTimeout: Duration = .milliseconds(200)) async throws -> EngineTestServer {
        try await EngineTestServer.start {
            $0.pingInterval = .milliseconds(300)
            $0.pingTimeout = pingTimeout
        }
    }

    @Test func aPollingSessionIsPingedAfterTheIntervalAndClosedWhenThePongIsLate() async throws {
        // The GET must reach the server before the ping's deadline; 1 s leaves room for a busy
        // machine while the bounds below still prove the timers fire on time, not early.
        let server = try await Self.start(pingTimeout: .seconds(1))
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let opened = ContinuousClock.now
        let sid = try await server.pollingHandshake(on: connection).sid
        #expect(try await connection.request("GET", server.pollingURI(sid: sid)).text == "2")
        let pingedAfter = ContinuousClock.now - opened
        #expect(pingedAfter >= .milliseconds(290) && pingedAfter < .milliseconds(2_000), "ping after \(pingedAfter)")
        #expect(try await server.recorder.nextClose(sid: sid).code == .pingTimeout)
        let closedAfter = ContinuousClock.now - opened
        #expect(closedAfter >= .milliseconds(1_290) && closedAfter < .milliseconds(4_000), "closed after \(closedAfter)")
    }

    @Test func aPollingSessionThatAnswersPingsStaysOpen() async throws {
        // A pong takes a GET answer and a POST: allow for a machine busy with other suites.
        let server = try await Self.start(pingTimeout: .seconds(2))
        defer { Task { await server.stop() } }
        let getter = try await server.connection()
        let poster = try await server.connection()
        let sid = try await server.pollingHandshake(on: getter).sid
        let start = ContinuousClock.now
        var pings = 0
        while ContinuousClock.now - start < .milliseconds(1_500) {
            let body = try await getter.request("GET", server.pollingURI(sid: sid)).text
            try #require(body == "2")
            pings += 1
            try #require(try await poster.request("POST", server.pollingURI(sid: sid), text: "3").text == "ok")
        }
        #expect(pings >= 3)
        #expect(server.server.session(id: sid) != nil)
    }

    @Test func aWebSocketSessionIsPingedAndClosedWhenThePongIsLate() async throws {
        let server = try await Self.start()
        defer { Task { await server.stop() } }
        let opened = ContinuousClock.now
        let (socket, handshake) = try await server.webSocketHandshake()
        #expect(try await socket.nextText() == "2")
        #expect(try await server.recorder.nextClose(sid: handshake.sid).code == .pingTimeout)
        let closedAfter = ContinuousClock.now - opened
        #expect(closedAfter >= .milliseconds(490) && closedAfter < .milliseconds(3_000), "closed after \(closedAfter)")
        #expect(try await socket.closeCode() == .normalClosure)
    }

    @Test func aWebSocketSessionThatAnswersPingsStaysOpen() async throws {
        let server = try await Self.start(pingTimeout: .seconds(2))
        defer { Task { await server.stop() } }
        let (socket, handshake) = try await server.webSocketHandshake()
        for _ in 0..<5 {
            #expect(try await socket.nextText() == "2")
            socket.send(text: "3")
        }
        #expect(server.server.session(id: handshake.sid) != nil)
    }

    @Test func theHeartbeatKeepsRunningDuringAnUpgrade() async throws {
        let server = try await Self.start(pingTimeout: .seconds(2))
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let sid = try await server.pollingHandshake(on: connection).sid
        let probe = try await RawWebSocket.connect(port: server.port, uri: server.webSocketURI(sid: sid))
        probe.send(text: "2probe")
        #expect(try await probe.nextText() == "3probe")
        // The ping due at 300 ms is queued during the upgrade and goes out on the WebSocket.
        try await Task.sleep(for: .milliseconds(350))
        probe.send(text: "5")
        #expect(try await probe.nextText() == "2")
        probe.send(text: "3")
        #expect(try await probe.nextText() == "2")
        #expect(server.server.session(id: sid) != nil)
    }
}
