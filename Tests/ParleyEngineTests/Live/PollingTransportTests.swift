import NIOCore
import NIOHTTP1
@testable import ParleyEngine
import ParleyProtocol
import ParleyTesting
import Testing

/// The long-polling transport against a live server on loopback (`Protocol/engine.md` § 5).
@Suite("Polling transport (live)")
struct PollingTransportTests {
    @Test func handshakeAdvertisesTheConfiguredValuesExactly() async throws {
        let server = try await EngineTestServer.start { configuration in
            configuration.pingInterval = .milliseconds(300)
            configuration.pingTimeout = .milliseconds(200)
            configuration.maxPayloadBytes = 12_345
        }
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let response = try await connection.request("GET", server.pollingURI())
        #expect(response.status == .ok)
        #expect(response.headers.first(name: "content-type") == "text/plain; charset=UTF-8")
        #expect(response.headers.first(name: "cache-control") == "no-store")
        let text = response.text
        let sid = String(text.dropFirst(9).prefix(20))
        #expect(text == "0{\"sid\":\"\(sid)\",\"upgrades\":[\"websocket\"],\"pingInterval\":300,\"pingTimeout\":200,\"maxPayload\":12345}")
        #expect(sid.count == 20)
        #expect(sid.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
    }

    @Test func sessionIdsAreDistinct() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        var seen = Set<String>()
        for _ in 0..<50 { seen.insert(try await server.pollingHandshake(on: connection).sid) }
        #expect(seen.count == 50)
    }

    @Test func postIsAnsweredOkAndEchoesComeBackInOrderInOneBody() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let sid = try await server.pollingHandshake(on: connection).sid
        let post = try await connection.request("POST", server.pollingURI(sid: sid), text: "4one\u{1e}bAQIDBA==\u{1e}4three ✓")
        #expect(post.status == .ok)
        #expect(post.text == "ok")
        #expect(post.headers.first(name: "content-type") == "text/html")
        for _ in 0..<3 { _ = try await server.recorder.nextMessage(sid: sid) }
        let poll = try await connection.request("GET", server.pollingURI(sid: sid))
        #expect(poll.text == "4one\u{1e}bAQIDBA==\u{1e}4three ✓")
    }

    @Test func getIsHeldUntilSomethingIsQueued() async throws {
        let server = try await EngineTestServer.start(echo: false)
        defer { Task { await server.stop() } }
        let getter = try await server.connection()
        let sid = try await server.pollingHandshake(on: getter).sid
        getter.send("GET", server.pollingURI(sid: sid))
        await #expect(throws: AsyncInbox<RawHTTPResponse>.TimeoutError.self) {
            _ = try await getter.response(timeout: .milliseconds(200))
        }
        let session = try #require(server.server.session(id: sid))
        session.eventLoop.execute {
            session.send(EngineMessage(text: "late"))
            session.send(EngineMessage(binary: [9, 8]))
        }
        #expect(try await getter.response().text == "4late\u{1e}bCQg=")
    }

    @Test func aGetResentWithTheSameKeyGetsTheSameAnswerAgain() async throws {
        let server = try await EngineTestServer.start(echo: false)
        defer { Task { await server.stop() } }
        let first = try await server.connection()
        let sid = try await server.pollingHandshake(on: first).sid
        let session = try #require(server.server.session(id: sid))
        session.eventLoop.execute { session.send(EngineMessage(text: "one")) }
        // The answer to `t=a` is lost on its way (a proxy dropped it and closed the connection);
        // the browser sends the very same request again on a new connection.
        #expect(try await first.request("GET", server.pollingURI(sid: sid) + "&t=a").text == "4one")
        session.eventLoop.execute { session.send(EngineMessage(text: "two")) }
        let second = try await server.connection()
        #expect(try await second.request("GET", server.pollingURI(sid: sid) + "&t=a").text == "4one")
        // A new request (a new key) gets what was queued since, once.
        #expect(try await second.request("GET", server.pollingURI(sid: sid) + "&t=b").text == "4two")
        session.eventLoop.execute { session.send(EngineMessage(text: "three")) }
        #expect(try await second.request("GET", server.pollingURI(sid: sid) + "&t=c").text == "4three")
        // Without a key nothing is ever given twice.
        session.eventLoop.execute { session.send(EngineMessage(text: "four")) }
        #expect(try await second.request("GET", server.pollingURI(sid: sid)).text == "4four")
        session.eventLoop.execute { session.send(EngineMessage(text: "five")) }
        #expect(try await second.request("GET", server.pollingURI(sid: sid)).text == "4five")
    }

    @Test func aSecondGetReleasesTheFirstWithCloseAndEndsTheSession() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let first = try await server.connection()
        let second = try await server.connection()
        let sid = try await server.pollingHandshake(on: first).sid
        first.send("GET", server.pollingURI(sid: sid))
        try await waitUntilPending(server, sid: sid)
        let intruder = try await second.request("GET", server.pollingURI(sid: sid))
        #expect(intruder.status == .badRequest)
        #expect(intruder.text == #"{"code":3,"message":"Bad request"}"#)
        #expect(try await first.response().text == "1")
        #expect(try await server.recorder.nextClose(sid: sid).code == .transportError)
        #expect(try await second.request("GET", server.pollingURI(sid: sid)).text == #"{"code":1,"message":"Session ID unknown"}"#)
    }

    @Test func aSecondConcurrentPostEndsTheSession() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let slow = try await server.connection()
        let other = try await server.connection()
        let sid = try await server.pollingHandshake(on: slow).sid
        // Head and part of a body: this POST stays in flight.
        slow.sendPartial("POST", server.pollingURI(sid: sid), contentLength: 10, bodyPrefix: Array("4ab".utf8))
        let session = try #require(server.server.session(id: sid))
        for _ in 0..<500 where try await !session.eventLoop.submit({ session.hasPostInFlight }).get() {
            try await Task.sleep(for: .milliseconds(10))  // the head reaching the session raises no event
        }
        let intruder = try await other.request("POST", server.pollingURI(sid: sid), text: "4cd")
        #expect(intruder.status == .badRequest)
        #expect(try await server.recorder.nextClose(sid: sid).code == .transportError)
    }

    @Test func droppingThePendingGetEndsTheSession() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let sid = try await server.pollingHandshake(on: connection).sid
        connection.send("GET", server.pollingURI(sid: sid))
        try await waitUntilPending(server, sid: sid)
        await connection.close()
        let reason = try await server.recorder.nextClose(sid: sid)
        #expect(reason.code == .transportError)
    }

    @Test func anUndecodableBodyIsRefusedAndEndsTheSessionWithParseError() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let sid = try await server.pollingHandshake(on: connection).sid
        let post = try await connection.request("POST", server.pollingURI(sid: sid), text: "abc")
        #expect(post.status == .badRequest)
        #expect(post.text == #"{"code":3,"message":"Bad request"}"#)
        #expect(try await server.recorder.nextClose(sid: sid).code == .parseError)
        #expect(try await connection.request("GET", server.pollingURI(sid: sid)).text == #"{"code":1,"message":"Session ID unknown"}"#)
    }

    @Test func anOversizedBodyGets413AndTheSessionSurvives() async throws {
        let server = try await EngineTestServer.start { $0.maxPayloadBytes = 1_000 }
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let sid = try await server.pollingHandshake(on: connection).sid
        let big = try await connection.request("POST", server.pollingURI(sid: sid), text: "4" + String(repeating: "x", count: 1_000))
        #expect(big.status == .payloadTooLarge)
        #expect(await connection.waitForClose())
        let fresh = try await server.connection()
        #expect(try await fresh.request("POST", server.pollingURI(sid: sid), text: "4small").text == "ok")
        #expect(try await fresh.request("GET", server.pollingURI(sid: sid)).text == "4small")
    }

    @Test func anOversizedChunkedBodyIsCutOffWith413() async throws {
        let server = try await EngineTestServer.start { $0.maxPayloadBytes = 1_000 }
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let sid = try await server.pollingHandshake(on: connection).sid
        connection.sendChunked("POST", server.pollingURI(sid: sid), chunks: Array(repeating: Array(repeating: UInt8(ascii: "y"), count: 600), count: 3))
        #expect(try await connection.response().status == .payloadTooLarge)
        #expect(server.server.session(id: sid) != nil)
    }

    @Test func anOctetStreamPostIsRefused() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let sid = try await server.pollingHandshake(on: connection).sid
        let post = try await connection.request("POST", server.pollingURI(sid: sid), headers: [("Content-Type", "application/octet-stream")], body: [0x34, 0x41])
        #expect(post.text == #"{"code":3,"message":"Bad request"}"#)
        #expect(server.server.session(id: sid) != nil)
    }

    @Test func aClientCloseAnswersThePendingGetWithNoop() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let getter = try await server.connection()
        let poster = try await server.connection()
        let sid = try await server.pollingHandshake(on: getter).sid
        getter.send("GET", server.pollingURI(sid: sid))
        try await waitUntilPending(server, sid: sid)
        #expect(try await poster.request("POST", server.pollingURI(sid: sid), text: "1").text == "ok")
        #expect(try await getter.response().text == "6")
        #expect(try await server.recorder.nextClose(sid: sid).code == .transportClose)
    }

    @Test func aClientPingBreaksTheHeartbeatDirection() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let sid = try await server.pollingHandshake(on: connection).sid
        let post = try await connection.request("POST", server.pollingURI(sid: sid), text: "2")
        #expect(post.status == .badRequest)
        #expect(try await server.recorder.nextClose(sid: sid).code == .transportError)
        #expect(try await connection.request("GET", server.pollingURI(sid: sid)).status == .badRequest)
    }

    @Test func aServerCloseReachesThePendingGetAsACloseAfterQueuedPackets() async throws {
        let server = try await EngineTestServer.start(echo: false)
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let sid = try await server.pollingHandshake(on: connection).sid
        connection.send("GET", server.pollingURI(sid: sid))
        try await waitUntilPending(server, sid: sid)
        let session = try #require(server.server.session(id: sid))
        session.eventLoop.execute {
            session.send(EngineMessage(text: "bye"))
            session.close()
        }
        #expect(try await connection.response().text == "4bye\u{1e}1")
        #expect(try await server.recorder.nextClose(sid: sid).code == .forcedClose)
    }

    @Test func aServerCloseWaitsForTheNextGetToDeliverTheClosePacket() async throws {
        let server = try await EngineTestServer.start(echo: false)
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let sid = try await server.pollingHandshake(on: connection).sid
        try #require(server.server.session(id: sid)).close()
        #expect(try await connection.request("GET", server.pollingURI(sid: sid)).text == "1")
        #expect(try await server.recorder.nextClose(sid: sid).code == .forcedClose)
        #expect(try await connection.request("GET", server.pollingURI(sid: sid)).status == .badRequest)
    }

    @Test func aTextMessageContainingTheRecordSeparatorIsRefused() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let sid = try await server.pollingHandshake(on: connection).sid
        let session = try #require(server.server.session(id: sid))
        #expect(session.send(EngineMessage(text: "a\u{1e}b")) == false)
    }
}

/// Waits until the session holds a GET; polls the server state in bounded steps because a
/// held GET produces no event.
func waitUntilPending(_ server: EngineTestServer, sid: String) async throws {
    let session = try #require(server.server.session(id: sid))
    for _ in 0..<200 {
        let pending = try await session.eventLoop.submit { session.hasPendingPoll }.get()
        if pending { return }
        try await Task.sleep(for: .milliseconds(5))
    }
    Issue.record("the GET never became pending")
}
