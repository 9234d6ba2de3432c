import Foundation
import NIOCore
import NIOHTTP1
import NIOWebSocket
@testable import ParleyEngine
import ParleyProtocol
import ParleyTesting
import Testing

/// Polling → WebSocket upgrades against a live server (`Protocol/engine.md` § 7).
@Suite("Upgrade (live)")
struct UpgradeTests {
    @Test func anUpgradeReleasesThePendingGetAndKeepsEveryPacketInOrder() async throws {
        let server = try await EngineTestServer.start(echo: false)
        defer { Task { await server.stop() } }
        let getter = try await server.connection()
        let sid = try await server.pollingHandshake(on: getter).sid
        let session = try #require(server.server.session(id: sid))
        getter.send("GET", server.pollingURI(sid: sid))
        try await waitUntilPending(server, sid: sid)

        let probe = try await RawWebSocket.connect(port: server.port, uri: server.webSocketURI(sid: sid))
        probe.send(text: "2probe")
        #expect(try await probe.nextText() == "3probe")
        #expect(try await getter.response().text == "6")

        // Sent while the upgrade is in progress: must wait for the WebSocket, in order.
        try await session.eventLoop.submit {
            for index in 1...3 { session.send(EngineMessage(text: "queued \(index)")) }
            session.send(EngineMessage(binary: [7, 7]))
        }.get()
        // A GET arriving mid-upgrade is released at once with noop and carries none of them.
        #expect(try await getter.request("GET", server.pollingURI(sid: sid)).text == "6")

        probe.send(text: "5")
        for index in 1...3 { #expect(try await probe.nextText() == "4queued \(index)") }
        let binary = try #require(try await probe.nextFrame())
        #expect(binary.opcode == .binary)
        #expect(Array(binary.unmaskedData.readableBytesView) == [7, 7])
        session.send(EngineMessage(text: "after"))
        #expect(try await probe.nextText() == "4after")
        #expect(try await session.eventLoop.submit { session.transportKind }.get() == .websocket)

        // The polling side is finished for this sid.
        let late = try await getter.request("GET", server.pollingURI(sid: sid))
        #expect(late.text == #"{"code":3,"message":"Bad request"}"#)
        #expect(try await getter.request("POST", server.pollingURI(sid: sid), text: "4x").status == .badRequest)
        // And the session still works both ways on the WebSocket.
        probe.send(text: "4from client")
        #expect(try await server.recorder.nextMessage(sid: sid).text == "from client")
    }

    @Test func clientPacketsPostedBeforeTheSwitchArriveBeforeThoseSentOnTheWebSocket() async throws {
        let server = try await EngineTestServer.start(echo: false)
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let sid = try await server.pollingHandshake(on: connection).sid
        #expect(try await connection.request("POST", server.pollingURI(sid: sid), text: "4a\u{1e}4b").text == "ok")
        let probe = try await RawWebSocket.connect(port: server.port, uri: server.webSocketURI(sid: sid))
        probe.send(text: "2probe")
        #expect(try await probe.nextText() == "3probe")
        #expect(try await connection.request("POST", server.pollingURI(sid: sid), text: "4c").text == "ok")
        probe.send(text: "5")
        probe.send(text: "4d")
        var received: [String] = []
        for _ in 0..<4 { received.append(try await server.recorder.nextMessage(sid: sid).text ?? "?") }
        #expect(received == ["a", "b", "c", "d"])
    }

    @Test func aSecondWebSocketForAnUpgradedSessionIsAcceptedThenClosed() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let sid = try await server.pollingHandshake(on: connection).sid
        let probe = try await RawWebSocket.connect(port: server.port, uri: server.webSocketURI(sid: sid))
        probe.send(text: "2probe")
        #expect(try await probe.nextText() == "3probe")
        probe.send(text: "5")
        let session = try #require(server.server.session(id: sid))
        for _ in 0..<500 where try await session.eventLoop.submit({ session.transportKind }).get() != .websocket {
            try await Task.sleep(for: .milliseconds(10))  // the upgrade packet has no answer to wait on
        }

        let intruder = try await RawWebSocket.connect(port: server.port, uri: server.webSocketURI(sid: sid))
        #expect(try await intruder.closeCode() == .policyViolation)
        probe.send(text: "4still here")
        #expect(try await probe.nextText() == "4still here")
    }

    @Test func aSecondWebSocketWhileUpgradingIsClosedAndTheFirstCompletes() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let sid = try await server.pollingHandshake(on: connection).sid
        let probe = try await RawWebSocket.connect(port: server.port, uri: server.webSocketURI(sid: sid))
        let intruder = try await RawWebSocket.connect(port: server.port, uri: server.webSocketURI(sid: sid))
        #expect(try await intruder.closeCode() == .policyViolation)
        probe.send(text: "2probe")
        #expect(try await probe.nextText() == "3probe")
        probe.send(text: "5")
        probe.send(text: "4ok")
        #expect(try await probe.nextText() == "4ok")
    }

    @Test func anUnfinishedUpgradeTimesOutAndTheSessionStaysOnPolling() async throws {
        let server = try await EngineTestServer.start { $0.upgradeTimeout = .milliseconds(200) }
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let sid = try await server.pollingHandshake(on: connection).sid
        let probe = try await RawWebSocket.connect(port: server.port, uri: server.webSocketURI(sid: sid))
        probe.send(text: "2probe")
        #expect(try await probe.nextText() == "3probe")
        #expect(try await probe.closeCode() == .normalClosure)
        #expect(try await connection.request("POST", server.pollingURI(sid: sid), text: "4poll").text == "ok")
        #expect(try await connection.request("GET", server.pollingURI(sid: sid)).text == "4poll")
    }

    @Test func aProbeThatSendsSomethingElseIsClosedAndPollingGoesOn() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let sid = try await server.pollingHandshake(on: connection).sid
        let probe = try await RawWebSocket.connect(port: server.port, uri: server.webSocketURI(sid: sid))
        probe.send(text: "5")
        #expect(try await probe.closeCode() == .normalClosure)
        #expect(try await connection.request("POST", server.pollingURI(sid: sid), text: "4alive").text == "ok")
        #expect(try await connection.request("GET", server.pollingURI(sid: sid)).text == "4alive")
    }

    @Test func aWebSocketForAnUnknownSidIsRefusedBeforeTheUpgrade() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let error = await #expect(throws: RawWebSocketRefused.self) {
            _ = try await RawWebSocket.connect(port: server.port, uri: server.webSocketURI(sid: "AAAAAAAAAAAAAAAAAAAA"))
        }
        #expect(error?.response.hasPrefix("HTTP/1.1 400") == true)
        #expect(error?.response.hasSuffix(#"{"code":1,"message":"Session ID unknown"}"#) == true)
    }

    @Test func anUpgradeOnAReusedKeepAliveConnectionIsAccepted() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let raw = try await RawTCPConnection.connect(port: server.port)
        raw.send("GET \(server.pollingURI()) HTTP/1.1\r\nHost: x\r\n\r\n")
        let first = try await raw.receive(until: "\"maxPayload\":1000000}")
        let sid = try #require(first.range(of: "\"sid\":\"").map { String(first[$0.upperBound...].prefix(20)) })
        // The same TCP connection now asks for the WebSocket, as aiohttp-based clients do.
        raw.send(
            "GET \(server.webSocketURI(sid: sid)) HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        let second = try await raw.receive(until: "\r\n\r\n")
        #expect(second.hasPrefix("HTTP/1.1 101 Switching Protocols"))
        // A masked `2probe` is answered `3probe` on the upgraded connection.
        raw.send([0x81, 0x86, 1, 2, 3, 4] + Array("2probe".utf8).enumerated().map { $0.element ^ [1, 2, 3, 4][$0.offset % 4] })
        #expect(try await raw.receive(until: "3probe").hasSuffix("3probe"))
    }

    @Test func aDirectWebSocketOnAReusedConnectionIsAccepted() async throws {
        let server = try await EngineTestServer.start()
        defer { Task { await server.stop() } }
        let raw = try await RawTCPConnection.connect(port: server.port)
        raw.send("GET \(server.path)?EIO=3&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
        _ = try await raw.receive(until: "version\"}")
        raw.send(
            "GET \(server.webSocketURI()) HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        let answer = try await raw.receive(until: "\"upgrades\":[]")
        #expect(answer.hasPrefix("HTTP/1.1 101 Switching Protocols"))
    }
}
