import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Parley
import ParleyClient
import ParleyTesting
import Testing

/// Buffering, refusals, server disconnects, reconnection and recovery of the Swift client,
/// against servers on loopback.
@Suite("Client behaviour (live)")
struct ClientBehaviourTests {
    static func server(_ setUp: (SocketServer) -> Void) async throws -> (SocketServer, Int) {
        var configuration = SocketServerConfiguration()
        configuration.engine.address = .hostname("127.0.0.1", port: 0)
        let server = SocketServer(configuration: configuration)
        setUp(server)
        return (server, try await server.start().port!)
    }

    static func manager(port: Int, _ adjust: (inout SocketClientConfiguration) -> Void = { _ in }) throws -> SocketManager {
        var configuration = SocketClientConfiguration()
        configuration.backoff = ReconnectBackoff(initial: .milliseconds(100), maximum: .milliseconds(500))
        adjust(&configuration)
        return try SocketManager(url: "http://127.0.0.1:\(port)", configuration: configuration)
    }

    /// Runs `body` while `manager.run()` runs, then disconnects and waits for it.
    static func running(_ manager: SocketManager, _ body: () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await manager.run() }
            do {
                try await body()
            } catch {
                await manager.disconnect()
                throw error
            }
            await manager.disconnect()
            try await group.waitForAll()
        }
    }

    /// Waits (bounded) until `condition` holds.
    static func eventually(_ condition: () -> Bool) async throws {
        for _ in 0..<500 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
        #expect(condition())
    }

    @Test func emitsBeforeTheConnectionAreSentInOrderOnceConnected() async throws {
        let received = NIOLockedValueBox<[Int]>([])
        let (server, port) = try await Self.server { server in
            server.onConnection { socket in
                socket.on("n") { event in received.withLockedValue { $0.append(try! event.argument(0, as: Int.self)) } }
            }
        }
        defer { Task { await server.shutdown() } }
        let manager = try Self.manager(port: port)
        let socket = manager.socket()
        for number in 0..<50 { try socket.emit("n", number) }
        try await Self.running(manager) {
            try await Self.eventually { received.withLockedValue { $0.count } == 50 }
            #expect(received.withLockedValue { $0 } == Array(0..<50))
        }
    }

    @Test func theEmitBufferIsBoundedAndVolatileEmitsAreDroppedWhileDisconnected() async throws {
        let received = NIOLockedValueBox<[String]>([])
        let (server, port) = try await Self.server { server in
            server.onConnection { socket in
                socket.onAny { event in received.withLockedValue { $0.append("\(event.name) \(event.arguments.jsonText)") } }
                socket.on("done") { event in try event.ack("ok") }
            }
        }
        defer { Task { await server.shutdown() } }
        let manager = try Self.manager(port: port) { $0.maxBufferedEmits = 3 }
        let socket = manager.socket()
        for number in 0..<3 { try socket.emit("buffered", number) }
        #expect(throws: EmitBufferFullError.self) { try socket.emit("buffered", 3) }
        try socket.emitVolatile("volatile", "while disconnected")
        // `connect` fires after the buffered emits went out (`isConnected` turns true before).
        let connects = NIOLockedValueBox(0)
        socket.onConnect { connects.withLockedValue { $0 += 1 } }
        try await Self.running(manager) {
            try await Self.eventually { connects.withLockedValue { $0 } == 1 }
            try socket.emitVolatile("volatile", "while connected")
            // Events leave in order on one connection: once "done" is acknowledged, everything
            // emitted before it has arrived.
            let reply = try await socket.emitWithAck("done", timeout: .seconds(5))
            #expect(try reply.decode(String.self, at: 0) == "ok")
            #expect(received.withLockedValue { $0 } == [
                "buffered [0]", "buffered [1]", "buffered [2]", #"volatile ["while connected"]"#,
            ])
        }
    }

    @Test func aMiddlewareRefusalReachesConnectErrorWithMessageAndData() async throws {
        let (server, port) = try await Self.server { server in
            server.of("/admin").use { _ in throw ConnectError("not authorized", data: ["retry": false]) }
        }
        defer { Task { await server.shutdown() } }
        let manager = try Self.manager(port: port)
        let refusals = NIOLockedValueBox<[ConnectRefusedError]>([])
        manager.socket("/admin").onConnectError { error in refusals.withLockedValue { $0.append(error) } }
        try await Self.running(manager) {
            try await Self.eventually { !refusals.withLockedValue { $0 }.isEmpty }
            let refusal = try #require(refusals.withLockedValue { $0.first })
            #expect(refusal.message == "not authorized")
            #expect(refusal.dataJSON == #"{"retry":false}"#)
        }
    }

    @Test func aServerDisconnectIsFinalForThatSocket() async throws {
        let connections = NIOLockedValueBox(0)
        let (server, port) = try await Self.server { server in
            server.onConnection { socket in
                connections.withLockedValue { $0 += 1 }
                socket.on("kick me") { _ in socket.disconnect() }
            }
        }
        defer { Task { await server.shutdown() } }
        let manager = try Self.manager(port: port)
        let socket = manager.socket()
        let reasons = NIOLockedValueBox<[String]>([])
        socket.onDisconnect { reason in reasons.withLockedValue { $0.append(reason.code.description) } }
        try await Self.running(manager) {
            try socket.emit("kick me")
            try await Self.eventually { reasons.withLockedValue { $0 } == ["io server disconnect"] }
            try await Task.sleep(for: .milliseconds(500))  // a reconnection would have happened by now
            #expect(connections.withLockedValue { $0 } == 1)
            #expect(!socket.isConnected)
        }
    }

    @Test func aLostConnectionReconnectsWithTheAuthAskedAgainAndEveryNamespaceRejoined() async throws {
        let tokens = NIOLockedValueBox<[String]>([])
        let joined = NIOLockedValueBox<[String]>([])
        let (server, port) = try await Self.server { server in
            struct Auth: Decodable { let token: String }
            server.onConnection { socket in
                joined.withLockedValue { $0.append("/") }
                socket.on("drop me") { _ in socket.disconnect(close: true) }
            }
            server.of("/chat").use { handshake in
                let token = try handshake.auth(as: Auth.self)?.token ?? "none"
                tokens.withLockedValue { $0.append(token) }
            }
            server.of("/chat").onConnection { _ in joined.withLockedValue { $0.append("/chat") } }
        }
        defer { Task { await server.shutdown() } }
        let manager = try Self.manager(port: port)
        let counter = NIOLockedValueBox(0)
        let main = manager.socket()
        _ = manager.socket("/chat", auth: .provider {
            let next = counter.withLockedValue { $0 += 1; return $0 }
            return ["token": "t\(next)"]
        })
        let attempts = NIOLockedValueBox<[Int]>([])
        let reconnects = NIOLockedValueBox<[Int]>([])
        manager.onReconnectAttempt { attempt in attempts.withLockedValue { $0.append(attempt) } }
        manager.onReconnect { attempt in reconnects.withLockedValue { $0.append(attempt) } }
        try await Self.running(manager) {
            try await Self.eventually { joined.withLockedValue { $0.count } == 2 }
            try main.emit("drop me")
            try await Self.eventually { joined.withLockedValue { $0.count } == 4 }
            #expect(tokens.withLockedValue { $0 } == ["t1", "t2"])
            #expect(attempts.withLockedValue { $0 } == [1])
            #expect(reconnects.withLockedValue { $0 } == [1])
        }
    }

    @Test func eventsAreAlsoAnAsyncSequence() async throws {
        let (server, port) = try await Self.server { server in
            server.onConnection { socket in
                for index in 0..<3 { try? socket.emit("tick", index) }
            }
        }
        defer { Task { await server.shutdown() } }
        let manager = try Self.manager(port: port)
        let socket = manager.socket()
        try await Self.running(manager) {
            var ticks: [Int] = []
            for await event in socket.events {
                ticks.append(try event.argument(0, as: Int.self))
                if ticks.count == 3 { break }
            }
            #expect(ticks == [0, 1, 2])
        }
    }

    @Test func recoveryStateIsSentBackOnReconnectLikeTheJSClient() async throws {
        // A stand-in server that speaks Socket.IO with recovery by hand: it hands out a pid,
        // appends an offset to an event, then drops the connection.
        let connects = NIOLockedValueBox<[String]>([])
        let recorder = RecordingEngineHandler(echo: false, eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        var configuration = EngineConfiguration()
        configuration.path = "/socket.io/"
        configuration.address = .hostname("127.0.0.1", port: 0)
        let engine = EngineServer(configuration: configuration, handler: recorder)
        let port = try await engine.start().port!
        defer { Task { await engine.shutdown() } }
        let manager = try Self.manager(port: port) { $0.transports = .webSocketOnly }
        let socket = manager.socket(auth: .value(["token": "abc"]))
        let recovered = NIOLockedValueBox<[Bool]>([])
        socket.onConnect { recovered.withLockedValue { $0.append(socket.recovered) } }
        try await Self.running(manager) {
            for round in 0..<2 {
                let (session, message) = try await recorder.next(timeout: .seconds(5)) { event -> (EngineSession, EngineMessage)? in
                    if case .received(let session, let message) = event { return (session, message) }
                    return nil
                }
                connects.withLockedValue { $0.append(message.text ?? "") }
                session.send(EngineMessage(text: #"0{"sid":"s1","pid":"p1"}"#))
                if round == 0 {
                    session.send(EngineMessage(text: #"2["news","hello","offset-7"]"#))
                    try await Self.eventually { recovered.withLockedValue { $0.count } == 1 }
                    try await Task.sleep(for: .milliseconds(100))
                    session.close()
                }
            }
            try await Self.eventually { recovered.withLockedValue { $0.count } == 2 }
        }
        #expect(connects.withLockedValue { $0 } == [#"0{"token":"abc"}"#, #"0{"token":"abc","pid":"p1","offset":"offset-7"}"#])
        #expect(recovered.withLockedValue { $0 } == [false, true])
    }
}
