import NIOCore
import NIOHTTP1
@testable import ParleyEngine
import ParleyProtocol
import ParleyTesting
import Testing

/// Malformed and unusual requests (`Protocol/engine.md` § 10 and § 11); after each, the server
/// still opens sessions.
@Suite("Request validation (live)")
struct RequestValidationTests {
    struct BadRequest: Sendable, CustomStringConvertible {
        let method: String
        let query: String
        let status: Int
        let body: String
        var description: String { "\(method) ?\(query)" }
    }

    static let badRequests: [BadRequest] = [
        .init(method: "GET", query: "transport=polling", status: 400, body: #"{"code":5,"message":"Unsupported protocol version"}"#),
        .init(method: "GET", query: "EIO=3&transport=polling", status: 400, body: #"{"code":5,"message":"Unsupported protocol version"}"#),
        .init(method: "GET", query: "EIO=4", status: 400, body: #"{"code":0,"message":"Transport unknown"}"#),
        .init(method: "GET", query: "EIO=4&transport=flash", status: 400, body: #"{"code":0,"message":"Transport unknown"}"#),
        .init(method: "POST", query: "EIO=4&transport=polling", status: 400, body: #"{"code":2,"message":"Bad handshake method"}"#),
        .init(method: "PUT", query: "EIO=4&transport=polling", status: 400, body: #"{"code":2,"message":"Bad handshake method"}"#),
        .init(method: "OPTIONS", query: "EIO=4&transport=polling", status: 400, body: #"{"code":2,"message":"Bad handshake method"}"#),
        .init(method: "GET", query: "EIO=4&transport=polling&sid=unknown", status: 400, body: #"{"code":1,"message":"Session ID unknown"}"#),
        .init(method: "POST", query: "EIO=4&transport=polling&sid=unknown", status: 400, body: #"{"code":1,"message":"Session ID unknown"}"#),
        .init(method: "GET", query: "EIO=4&transport=websocket", status: 400, body: #"{"code":3,"message":"Bad request"}"#),
        .init(method: "GET", query: "EIO=4&transport=websocket&sid=unknown", status: 400, body: #"{"code":1,"message":"Session ID unknown"}"#),
    ]

    @Test(arguments: badRequests)
    func aMalformedRequestGetsTheReferenceErrorBody(_ bad: BadRequest) async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let response = try await connection.request(bad.method, "\(server.path)?\(bad.query)", body: bad.method == "GET" ? nil : Array("4x".utf8))
        #expect(Int(response.status.code) == bad.status)
        #expect(response.text == bad.body)
        #expect(response.headers.first(name: "content-type") == "application/json")
        _ = try await server.pollingHandshake(on: connection)
    }

    @Test func aPutWithASidIsABadRequest() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let sid = try await server.pollingHandshake(on: connection).sid
        let response = try await connection.request("PUT", server.pollingURI(sid: sid), body: Array("4x".utf8))
        #expect(response.text == #"{"code":3,"message":"Bad request"}"#)
    }

    @Test func anotherPathIsNotFound() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        #expect(try await connection.request("GET", "/other/?EIO=4&transport=polling").status == .notFound)
        #expect(try await connection.request("GET", "/engine.io/deeper?EIO=4&transport=polling").status == .notFound)
        #expect(try await connection.request("GET", "/engine.io?EIO=4&transport=polling").status == .ok)
    }

    @Test func aRefusingAuthorizerAnswers403() async throws {
        let server = try await EngineTestServer.start { configuration in
            configuration.allowRequest = { request in request.headers.first(name: "x-token") == "secret" }
        }
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let refused = try await connection.request("GET", server.pollingURI())
        #expect(refused.status == .forbidden)
        #expect(refused.text == #"{"code":4,"message":"Forbidden"}"#)
        #expect(try await connection.request("GET", server.pollingURI(), headers: [("X-Token", "secret")]).status == .ok)
    }

    @Test func garbageInsteadOfHTTPGets400AndAClosedConnection() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let raw = try await RawTCPConnection.connect(port: server.port)
        raw.send([0x16, 0x03, 0x01, 0x00, 0xFF, 0x01, 0x00, 0x00, 0x0D, 0x0A, 0x0D, 0x0A])
        let answer = try #require(await raw.readUntilClose())
        #expect(answer.hasPrefix("HTTP/1.1 400"))
        _ = try await server.pollingHandshake(on: try await server.connection())
    }

    @Test func aHalfOpenConnectionIsClosedAfterTheIdleTimeoutWhileOthersAreServed() async throws {
        let server = try await EngineTestServer.start { $0.idleConnectionTimeout = .milliseconds(2_000) }
        defer { Task { await server.stop() } }
        let stalledSince = ContinuousClock.now
        let stalled = try await RawTCPConnection.connect(port: server.port)
        stalled.send("GET /engine.io/?EIO=4&transp")
        let silentSince = ContinuousClock.now
        let silent = try await RawTCPConnection.connect(port: server.port)
        _ = try await server.pollingHandshake(on: try await server.connection())
        // Both waits run at once, so each end is seen when it happens.
        async let stalledEnd = Self.readUntilClose(stalled)
        async let silentEnd = Self.readUntilClose(silent)
        let (stalledAnswer, stalledClosedAt) = await stalledEnd
        let (silentAnswer, silentClosedAt) = await silentEnd
        #expect(stalledAnswer == "")
        #expect(silentAnswer == "")
        // Open until the idle timeout (the last byte of `stalled` went out right after its
        // connect), closed soon after it.
        for (name, lifetime) in [("stalled", stalledClosedAt - stalledSince), ("silent", silentClosedAt - silentSince)] {
            #expect(lifetime >= .milliseconds(1_950), "\(name) closed after \(lifetime)")
            #expect(lifetime < .milliseconds(3_500), "\(name) closed after \(lifetime)")
        }
    }

    /// What `connection` received until it closed (`nil`: still open after 4 s), and when it closed.
    static func readUntilClose(_ connection: RawTCPConnection) async -> (String?, ContinuousClock.Instant) {
        let answer = await connection.readUntilClose(timeout: .seconds(4))
        return (answer, .now)
    }

    @Test func aPendingGetIsNotIdle() async throws {
        let server = try await EngineTestServer.start(echo: false) { $0.idleConnectionTimeout = .milliseconds(1_500) }
        defer { Task { await server.stop() } }
        let sid = try await server.pollingHandshake(on: try await server.connection()).sid
        // A fresh connection that sends its GET at once: it is never idle without a request.
        let connection = try await server.connection()
        connection.send("GET", server.pollingURI(sid: sid))
        try await waitUntilPending(server, sid: sid)
        try await Task.sleep(for: .milliseconds(4_000))  // two idle periods pass while the GET is held
        try #require(server.server.session(id: sid)).send(EngineMessage(text: "still"))
        #expect(try await connection.response().text == "4still")
    }

    // MARK: CORS

    @Test func withoutCORSConfiguredNoCORSHeadersAreSent() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let response = try await server.connection().request("GET", server.pollingURI(), headers: [("Origin", "https://a.example")])
        #expect(!response.headers.contains { $0.name.lowercased().hasPrefix("access-control") })
    }

    @Test func anyOriginWithoutCredentialsIsAStar() async throws {
        let server = try await EngineTestServer.start { $0.cors = CORSConfiguration(allowedOrigins: .any) }
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let response = try await connection.request("GET", server.pollingURI(), headers: [("Origin", "https://a.example")])
        #expect(response.headers.first(name: "access-control-allow-origin") == "*")
        #expect(response.headers.first(name: "access-control-allow-credentials") == nil)
        let error = try await connection.request("GET", "\(server.path)?EIO=4", headers: [("Origin", "https://a.example")])
        #expect(error.headers.first(name: "access-control-allow-origin") == "*")
    }

    @Test func credentialsEchoTheOriginAndNeverAStar() async throws {
        let server = try await EngineTestServer.start { $0.cors = CORSConfiguration(allowedOrigins: .list(["https://a.example"]), allowCredentials: true) }
        defer { Task { await server.stop() } }
        let response = try await server.connection().request("GET", server.pollingURI(), headers: [("Origin", "https://a.example")])
        #expect(response.headers.first(name: "access-control-allow-origin") == "https://a.example")
        #expect(response.headers.first(name: "access-control-allow-credentials") == "true")
        #expect(response.headers.first(name: "vary") == "Origin")
    }

    @Test func aListAllowsOnlyItsOrigins() async throws {
        let server = try await EngineTestServer.start { $0.cors = CORSConfiguration(allowedOrigins: .list(["https://a.example"])) }
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let allowed = try await connection.request("GET", server.pollingURI(), headers: [("Origin", "https://a.example")])
        #expect(allowed.headers.first(name: "access-control-allow-origin") == "https://a.example")
        let other = try await connection.request("GET", server.pollingURI(), headers: [("Origin", "https://evil.example")])
        #expect(other.headers.first(name: "access-control-allow-origin") == nil)
    }

    @Test func aPreflightIsAnswered204() async throws {
        let server = try await EngineTestServer.start { $0.cors = CORSConfiguration(allowedOrigins: .list(["https://a.example"])) }
        defer { Task { await server.stop() } }
        let response = try await server.connection().request(
            "OPTIONS",
            server.pollingURI(),
            headers: [("Origin", "https://a.example"), ("Access-Control-Request-Method", "POST"), ("Access-Control-Request-Headers", "content-type")]
        )
        #expect(response.status == .noContent)
        #expect(response.headers.first(name: "access-control-allow-origin") == "https://a.example")
        #expect(response.headers.first(name: "access-control-allow-methods") == "GET, POST, OPTIONS")
        #expect(response.headers.first(name: "access-control-allow-headers") == "content-type")
        #expect(response.headers.first(name: "access-control-max-age") == "600")
    }
}
