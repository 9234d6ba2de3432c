import NIOCore
import NIOHTTP1
import NIOWebSocket
@testable import ParleyEngine
import ParleyProtocol
import ParleyTesting
import Testing

/// The operator's limits (`Protocol/engine.md` § 10) and the origin rules of WebSocket
/// upgrades (§ 11), against a live server.
@Suite("Limits (live)")
struct LimitsTests {
    @Test func sessionsPerAddressAreCountedAndGivenBack() async throws {
        let server = try await EngineTestServer.start { $0.limits.maxSessionsPerAddress = 2 }
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let first = try await server.pollingHandshake(on: connection)
        let (socket, _) = try await server.webSocketHandshake()
        let refused = try await connection.request("GET", server.pollingURI())
        #expect(refused.status == .tooManyRequests)
        #expect(refused.text == #"{"code":6,"message":"Too many sessions from this address"}"#)
        await #expect(throws: RawWebSocketRefused.self) { try await RawWebSocket.connect(port: server.port, uri: server.webSocketURI()) }
        // A session that ends gives its place back.
        _ = try await connection.request("POST", server.pollingURI(sid: first.sid), text: "1")
        _ = try await server.recorder.nextClose(sid: first.sid)
        _ = try await server.pollingHandshake(on: connection)
        await socket.close()
    }

    @Test func handshakesPastTheRateAreAnswered503() async throws {
        let server = try await EngineTestServer.start { $0.limits.maxHandshakesPerSecond = 3 }
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        var statuses: [HTTPResponseStatus] = []
        for _ in 0..<5 { statuses.append(try await connection.request("GET", server.pollingURI()).status) }
        #expect(statuses.filter { $0 == .ok }.count == 3)
        #expect(statuses.last == .serviceUnavailable)
        let busy = try await connection.request("GET", server.pollingURI())
        #expect(busy.text == #"{"code":7,"message":"Server busy"}"#)
    }

    @Test func connectionsPastTheLimitAreAnswered503AndClosed() async throws {
        let server = try await EngineTestServer.start { $0.limits.maxConnections = 2 }
        defer { Task { await server.stop() } }
        let first = try await server.connection()
        let second = try await server.connection()
        _ = try await server.pollingHandshake(on: first)
        let third = try await RawTCPConnection.connect(port: server.port)
        let answer = try #require(await third.readUntilClose())
        #expect(answer.hasPrefix("HTTP/1.1 503"))
        #expect(server.server.connectionCount == 2)
        await second.close()
        #expect(await eventually { server.server.connectionCount == 1 })
        let fourth = try await server.connection()
        _ = try await server.pollingHandshake(on: fourth)
    }

    @Test func anyOriginWithCredentialsIsRefusedAtStart() async throws {
        await #expect(throws: EngineServer.ConfigurationError.self) {
            try await EngineTestServer.start { $0.cors = CORSConfiguration(allowedOrigins: .any, allowCredentials: true) }
        }
    }

    @Test func impossibleLimitsAreRefusedAtStart() async throws {
        await #expect(throws: EngineServer.ConfigurationError.self) {
            try await EngineTestServer.start { $0.maxQueuedBytes = 0 }
        }
        await #expect(throws: EngineServer.ConfigurationError.self) {
            try await EngineTestServer.start { $0.limits.maxConnections = 0 }
        }
    }

    @Test func webSocketUpgradesFromAnotherOriginNeedCORS() async throws {
        let plain = try await EngineTestServer.start()
        defer { Task { await plain.stop() } }
        // No Origin (not a browser) and the server's own origin pass; another origin does not.
        _ = try await RawWebSocket.connect(port: plain.port, uri: plain.webSocketURI())
        _ = try await RawWebSocket.connect(port: plain.port, uri: plain.webSocketURI(), headers: [("Origin", "http://127.0.0.1:\(plain.port)")])
        let refusal = await #expect(throws: RawWebSocketRefused.self) {
            try await RawWebSocket.connect(port: plain.port, uri: plain.webSocketURI(), headers: [("Origin", "https://evil.example")])
        }
        #expect(refusal?.response.hasPrefix("HTTP/1.1 403") == true)

        let listed = try await EngineTestServer.start { $0.cors = CORSConfiguration(allowedOrigins: .list(["https://app.example"])) }
        defer { Task { await listed.stop() } }
        _ = try await RawWebSocket.connect(port: listed.port, uri: listed.webSocketURI(), headers: [("Origin", "https://app.example")])
        await #expect(throws: RawWebSocketRefused.self) {
            try await RawWebSocket.connect(port: listed.port, uri: listed.webSocketURI(), headers: [("Origin", "https://evil.example")])
        }
    }
}
