import NIOCore
import NIOWebSocket
@testable import ParleyEngine
import ParleyProtocol
import ParleyTesting
import Testing

/// Graceful shutdown (`Protocol/engine.md` § 9.3).
@Suite("Shutdown (live)")
struct ShutdownTests {
    @Test func shutdownClosesEverySessionCleanlyAndStopsAccepting() async throws {
        let server = try await EngineTestServer.start(echo: false)
        let getter = try await server.connection()
        let pollingSID = try await server.pollingHandshake(on: getter).sid
        getter.send("GET", server.pollingURI(sid: pollingSID))
        try await waitUntilPending(server, sid: pollingSID)
        let (socket, handshake) = try await server.webSocketHandshake()

        await server.stop()

        #expect(try await getter.response().text == "1")
        #expect(try await socket.nextText() == "1")
        #expect(try await socket.closeCode() == .goingAway)
        var reasons: [String: EngineCloseReason.Code] = [:]
        for _ in 0..<2 {
            try await server.recorder.next(timeout: .seconds(5)) { event in
                if case .closed(let session, let reason) = event { reasons[session.id] = reason.code; return () }
                return nil
            }
        }
        #expect(reasons == [pollingSID: .serverShuttingDown, handshake.sid: .serverShuttingDown])
        #expect(server.server.sessionCount == 0)
        await #expect(throws: (any Error).self) { _ = try await server.connection() }
    }
}
