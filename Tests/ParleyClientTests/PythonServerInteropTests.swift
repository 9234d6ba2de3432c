import Foundation
import NIOConcurrencyHelpers
import ParleyClient
import ParleyProtocol
import ParleyTesting
import Testing

/// The Swift client against python-socketio's `AsyncServer` (PyPI 5.18.1 on aiohttp, an
/// independent implementation), over polling, over WebSocket and with the upgrade
/// (PROTOCOL-NOTES §2, §5; expectations follow the protocol and the JS reference client, not
/// python-socketio's quirks of §4).
///
/// Each test starts `Tests/Interop/socketio_server_peer.py` with the interpreter in
/// `PARLEY_PYTHON` (`bash Tests/run.sh` sets it), reads the port it prints, runs one scenario
/// with a ``SocketManager``, and stops the server (SIGTERM, SIGKILL after 3 s). The server
/// prints what it saw as JSON lines; the tests assert on both sides. Every wait is bounded.
@Suite("ParleyClient ↔ python-socketio server (interop)", .serialized, .timeLimit(.minutes(2)))
struct PythonServerInteropTests {
    static let transports: [SocketClientConfiguration.Transports] = [.pollingOnly, .webSocketOnly, .pollingThenUpgrade]

    // MARK: Connect

    @Test(arguments: transports)
    func connectsAndReceivesTheWelcomeEmittedByTheConnectHandler(_ transports: SocketClientConfiguration.Transports) async throws {
        try await withPythonServer { server in
            let manager = try Self.manager(port: server.port, transports: transports)
            let socket = manager.socket()
            struct Welcome: Sendable {
                var arguments: [String]
                var connected: Bool
                var id: String?
            }
            let welcomes = NIOLockedValueBox<[Welcome]>([])
            let connects = NIOLockedValueBox(0)
            let sequence = NIOLockedValueBox<[String]>([])
            let others = NIOLockedValueBox<[String]>([])
            socket.on("welcome") { event in
                let arguments = try event.arguments.decode([String].self)
                welcomes.withLockedValue { $0.append(Welcome(arguments: arguments, connected: socket.isConnected, id: socket.id)) }
                sequence.withLockedValue { $0.append("welcome") }
            }
            socket.onConnect {
                connects.withLockedValue { $0 += 1 }
                sequence.withLockedValue { $0.append("connect") }
            }
            socket.onAny { event in others.withLockedValue { $0.append(event.name) } }

            try await run(manager, transports: transports) {
                try #require(await waitUntil { socket.isConnected }, "the socket did not connect within 5 s\n\(server.log)")
                #expect(await waitUntil { !welcomes.withLockedValue { $0.isEmpty } }, "no welcome event within 5 s")
                let id = try #require(socket.id)
                let welcome = try #require(welcomes.withLockedValue { $0.first })
                #expect(welcome.arguments == ["hello", id], "welcome carries the socket id the CONNECT reply assigned")
                // python-socketio sends the connect handler's emit BEFORE the CONNECT reply
                // (PROTOCOL-NOTES §4). The JS client buffers events that arrive before the
                // reply and delivers them once connected, right before `connect`; a handler
                // must never see an unconnected socket or a missing id.
                #expect(welcome.connected, "the welcome handler ran while socket.isConnected was false")
                #expect(welcome.id == id, "the welcome handler ran before the socket had its id (saw \(welcome.id ?? "nil"))")
                #expect(welcomes.withLockedValue { $0.count } == 1)
                #expect(connects.withLockedValue { $0 } == 1)
                #expect(sequence.withLockedValue { $0 } == ["welcome", "connect"], "the JS client delivers buffered events, then `connect`")

                let connect = try #require(await server.waitFor("connect", where: { $0["nsp"] == "/" }), "the server saw no connect")
                #expect(connect["sid"] == .string(id), "the client's socket id is the server's sid")
                #expect(connect["auth"] == .null, "no auth was configured: CONNECT without payload")

                try await Self.settle(manager, transports: transports)
                let seen = try await socket.emitWithAck("which_transport", timeout: .seconds(5))
                #expect(try seen.decode(String.self, at: 0) == Self.finalTransport(transports).rawValue, "the transport the server sees")
                #expect(others.withLockedValue { $0 } == [])
            }
        }
    }

    // MARK: Acks

    struct Nested: Codable, Sendable, Equatable {
        var text: String
        var numbers: [Int]
        var flag: Bool
        var missing: String?
    }

    @Test(arguments: transports)
    func acknowledgesInBothDirections(_ transports: SocketClientConfiguration.Transports) async throws {
        try await withPythonServer { server in
            let manager = try Self.manager(port: server.port, transports: transports)
            let socket = manager.socket()
            let questions = NIOLockedValueBox<[(arguments: [String], expectsAck: Bool)]>([])
            let answers = NIOLockedValueBox<[SocketArguments]>([])
            let failures = NIOLockedValueBox<[String]>([])
            socket.on("question") { event in
                let arguments = try event.arguments.decode([String].self)
                questions.withLockedValue { $0.append((arguments, event.expectsAck)) }
                try event.ack("forty-two", 42)
            }
            socket.on("answer") { event in answers.withLockedValue { $0.append(event.arguments) } }
            socket.on("answer_failed") { event in failures.withLockedValue { $0.append(event.arguments.jsonText) } }

            try await run(manager, transports: transports) {
                // client → server, before the connection is up: buffered, then sent.
                let text = #"héllo ✓ 😀 "quoted" \ / "#
                let nested = Nested(text: "inner", numbers: [1, -2, 3_000_000_000], flag: true, missing: nil)
                let reply = try await socket.emitWithAck("echo", text, 42, nested, timeout: .seconds(5))
                #expect(reply.count == 3, "ack arguments: \(reply.jsonText)")
                #expect(try reply.decode(String.self, at: 0) == text)
                #expect(try reply.decode(Int.self, at: 1) == 42)
                #expect(try reply.decode(Nested.self, at: 2) == nested)
                let empty = try await socket.emitWithAck("echo", timeout: .seconds(5))
                #expect(empty.count == 0, "an ack without arguments: \(empty.jsonText)")
                let echoed = await server.waitFor("echo", where: { $0["nsp"] == "/" && $0["args"]?.array?.count == 3 })
                #expect(echoed?["args"] == .array([.string(text), .number(42), .object(["text": "inner", "numbers": .array([.number(1), .number(-2), .number(3_000_000_000)]), "flag": .bool(true)])]))

                // server → client: sio.call("question", "life") answered by event.ack(...).
                try socket.emit("ask_client")
                #expect(await waitUntil { !answers.withLockedValue { $0.isEmpty } || !failures.withLockedValue { $0.isEmpty } }, "no answer within 5 s\n\(server.log)")
                #expect(failures.withLockedValue { $0 } == [], "the server's call() failed")
                let question = questions.withLockedValue { $0 }
                #expect(question.map(\.arguments) == [["life"]])
                #expect(question.map(\.expectsAck) == [true])
                let answer = try #require(answers.withLockedValue { $0.first })
                #expect(answer.count == 2, "answer: \(answer.jsonText)")
                #expect(try answer.decode(String.self, at: 0) == "forty-two")
                #expect(try answer.decode(Int.self, at: 1) == 42)
                #expect(await server.waitFor("answer")?["value"] == .array(["forty-two", .number(42)]), "what sio.call() returned")
                try await Self.settle(manager, transports: transports)
            }
        }
    }

    // MARK: Binary

    struct Upload: Codable, Sendable, Equatable {
        var name: String
        var data: Data
        var parts: [Data]
    }

    struct Reversed: Decodable, Sendable {
        var reversed: Data
    }

    @Test(arguments: transports)
    func carriesBinaryInsideArgumentsBothWays(_ transports: SocketClientConfiguration.Transports) async throws {
        try await withPythonServer { server in
            let manager = try Self.manager(port: server.port, transports: transports)
            let socket = manager.socket()
            let reversed = NIOLockedValueBox<[Data]>([])
            socket.on("bytes_event") { event in
                let data = try event.argument(0, as: Reversed.self).reversed
                reversed.withLockedValue { $0.append(data) }
            }

            try await run(manager, transports: transports) {
                // Every byte value, and the polling record separator 0x1E, which base64 must hide.
                let blob = Data((0...255).map(UInt8.init) + [0x1E, 0x1E, 0x00, 0xFF])
                let upload = Upload(name: "blob", data: blob, parts: [Data([1, 2, 3]), Data([0x1E])])
                let reply = try await socket.emitWithAck("echo_bytes", upload, "tail", timeout: .seconds(5))
                #expect(reply.attachments.count == 3, "the ack's binary attachments (BINARY_ACK)")
                #expect(try reply.decode(Upload.self, at: 0) == upload)
                #expect(try reply.decode(String.self, at: 1) == "tail")

                let seen = try #require(await server.waitFor("echo_bytes"), "the server saw no echo_bytes")
                // The server must have received real binary attachments, not base64 or arrays.
                #expect(seen["types"] == .array([.object(["name": "str", "data": "bytes", "parts": .array(["bytes", "bytes"])]), "str"]))
                #expect(seen["args"]?.array?.first?["data"] == .object(["bytes": .array(blob.map { .number(Double($0)) })]))

                #expect(await waitUntil { !reversed.withLockedValue { $0.isEmpty } }, "no bytes_event within 5 s")
                #expect(reversed.withLockedValue { $0 } == [Data(blob.reversed())], "a server event with binary (BINARY_EVENT)")
                try await Self.settle(manager, transports: transports)
            }
        }
    }

    // MARK: Namespaces and auth

    @Test(arguments: transports)
    func joinsAdminWithTheRightTokenAndIsRefusedWithAWrongOne(_ transports: SocketClientConfiguration.Transports) async throws {
        try await withPythonServer { server in
            // The right token, next to `/` on the same connection.
            let manager = try Self.manager(port: server.port, transports: transports)
            let main = manager.socket()
            let admin = manager.socket("/admin", auth: .value(["token": "secret"]))
            let adminErrors = NIOLockedValueBox<[String]>([])
            admin.onConnectError { error in adminErrors.withLockedValue { $0.append(error.description) } }
            try await run(manager, transports: transports) {
                try #require(await waitUntil { main.isConnected && admin.isConnected }, "not both connected within 5 s\n\(server.log)")
                #expect(main.id != admin.id, "one socket id per namespace")
                let connect = try #require(await server.waitFor("connect", where: { $0["nsp"] == "/admin" }))
                #expect(connect["auth"] == .object(["token": "secret"]))
                #expect(connect["sid"] == admin.id.map(JSONValue.string))
                let reply = try await admin.emitWithAck("echo", "on admin", timeout: .seconds(5))
                #expect(try reply.decode(String.self, at: 0) == "on admin")
                #expect(await server.waitFor("echo", where: { $0["nsp"] == "/admin" }) != nil, "the event went to /admin")
                #expect(adminErrors.withLockedValue { $0 } == [])
                try await Self.settle(manager, transports: transports)
            }

            // A wrong token (from a provider): CONNECT_ERROR, and the socket stays out.
            let refusedManager = try Self.manager(port: server.port, transports: transports)
            let refused = refusedManager.socket("/admin", auth: .provider { ["token": "wrong"] })
            let errors = NIOLockedValueBox<[ConnectRefusedError]>([])
            let connects = NIOLockedValueBox(0)
            refused.onConnectError { error in errors.withLockedValue { $0.append(error) } }
            refused.onConnect { connects.withLockedValue { $0 += 1 } }
            try await run(refusedManager, transports: transports) {
                #expect(await waitUntil { !errors.withLockedValue { $0.isEmpty } }, "no onConnectError within 5 s\n\(server.log)")
                let error = try #require(errors.withLockedValue { $0.first })
                #expect(error.message == "not authorized")
                #expect(error.dataJSON == nil, "python-socketio sends {\"message\": ...} only")
                #expect(await server.waitFor("refused")?["auth"] == .object(["token": "wrong"]))
                // Nothing more happens by itself: no second attempt, no connect.
                #expect(await !waitUntil(.milliseconds(1500)) { errors.withLockedValue { $0.count } > 1 || refused.isConnected })
                #expect(errors.withLockedValue { $0.count } == 1)
                #expect(connects.withLockedValue { $0 } == 0)
                #expect(!refused.isConnected && refused.id == nil)
                #expect(server.observations.filter { $0["event"] == "refused" }.count == 1)
                try await Self.settle(refusedManager, transports: transports)
            }
        }
    }

    // MARK: Disconnects

    @Test(arguments: transports)
    func theServersDisconnectEndsTheSocketWithoutReconnection(_ transports: SocketClientConfiguration.Transports) async throws {
        try await withPythonServer { server in
            let manager = try Self.manager(port: server.port, transports: transports)
            let socket = manager.socket()
            let admin = manager.socket("/admin", auth: .value(["token": "secret"]))
            let reasons = NIOLockedValueBox<[String]>([])
            let connects = NIOLockedValueBox(0)
            let adminReasons = NIOLockedValueBox<[String]>([])
            socket.onDisconnect { reason in reasons.withLockedValue { $0.append(reason.code.description) } }
            socket.onConnect { connects.withLockedValue { $0 += 1 } }
            admin.onDisconnect { reason in adminReasons.withLockedValue { $0.append(reason.code.description) } }

            try await run(manager, transports: transports) {
                try #require(await waitUntil { socket.isConnected && admin.isConnected }, "not both connected within 5 s\n\(server.log)")
                let id = try #require(socket.id)
                try socket.emit("server_disconnect")
                #expect(await waitUntil { !reasons.withLockedValue { $0.isEmpty } }, "no onDisconnect within 5 s\n\(server.log)")
                #expect(reasons.withLockedValue { $0 } == ["io server disconnect"])
                #expect(!socket.isConnected && socket.id == nil)
                #expect(await server.waitFor("disconnect", where: { $0["nsp"] == "/" })?["reason"] == "server disconnect")

                // `io server disconnect` stops reconnection of that socket (PROTOCOL-NOTES §2.5, §5).
                #expect(await !waitUntil(.milliseconds(1500)) { socket.isConnected || connects.withLockedValue { $0 } > 1 }, "the socket joined again by itself")
                #expect(connects.withLockedValue { $0 } == 1)
                #expect(server.observations.filter { $0["event"] == "connect" && $0["nsp"] == "/" }.map { $0["sid"] } == [.string(id)], "the server saw a second CONNECT to /")
                #expect(reasons.withLockedValue { $0 } == ["io server disconnect"])

                // The connection and the other namespace are untouched.
                #expect(admin.isConnected)
                #expect(adminReasons.withLockedValue { $0 } == [])
                let reply = try await admin.emitWithAck("echo", "still here", timeout: .seconds(5))
                #expect(try reply.decode(String.self, at: 0) == "still here")
                try await Self.settle(manager, transports: transports)
            }
        }
    }

    @Test(arguments: transports)
    func managerDisconnectEndsRun(_ transports: SocketClientConfiguration.Transports) async throws {
        try await withPythonServer { server in
            let manager = try Self.manager(port: server.port, transports: transports)
            let socket = manager.socket()
            let reasons = NIOLockedValueBox<[String]>([])
            socket.onDisconnect { reason in reasons.withLockedValue { $0.append(reason.code.description) } }
            var id: String?
            // `run` itself expects run() to return within 5 s of disconnect().
            try await run(manager, transports: transports) {
                try #require(await waitUntil { socket.isConnected }, "the socket did not connect within 5 s\n\(server.log)")
                id = socket.id
                let reply = try await socket.emitWithAck("echo", "before", timeout: .seconds(5))
                #expect(try reply.decode(String.self, at: 0) == "before")
                try await Self.settle(manager, transports: transports)
            }
            #expect(reasons.withLockedValue { $0 } == ["io client disconnect"])
            #expect(!socket.isConnected && socket.id == nil)
            #expect(manager.transport == nil)
            let gone = await server.waitFor("disconnect", where: { $0["nsp"] == "/" })
            #expect(gone?["sid"] == id.map(JSONValue.string), "the server saw the socket leave")
            // The client closed the Engine.IO session with a `1` packet (PROTOCOL-NOTES §1.7).
            #expect(gone?["reason"] == "client disconnect", "python-socketio's reason for a client that closed the session")
            #expect(server.observations.filter { $0["event"] == "connect" }.count == 1)
        }
    }
}

// MARK: - Client helpers

extension PythonServerInteropTests {
    static func manager(port: Int, transports: SocketClientConfiguration.Transports) throws -> SocketManager {
        var configuration = SocketClientConfiguration()
        configuration.transports = transports
        configuration.connectTimeout = .seconds(5)
        return try SocketManager(url: "http://127.0.0.1:\(port)", configuration: configuration)
    }

    static func finalTransport(_ transports: SocketClientConfiguration.Transports) -> EngineTransportKind {
        transports == .pollingOnly ? .polling : .websocket
    }

    /// Expects the manager on the transport it must end on; the upgrade gets 5 s.
    static func settle(_ manager: SocketManager, transports: SocketClientConfiguration.Transports, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let expected = finalTransport(transports)
        if transports == .pollingThenUpgrade {
            #expect(await waitUntil { manager.transport == .websocket }, "no upgrade to WebSocket within 5 s", sourceLocation: sourceLocation)
        }
        #expect(manager.transport == expected, "on \(manager.transport.map(\.rawValue) ?? "nothing"), expected \(expected)", sourceLocation: sourceLocation)
    }

    /// Runs `manager` while `body` runs, then `disconnect()`s it and expects `run()` to return
    /// within 5 s (cancelling it otherwise).
    func run(_ manager: SocketManager, transports: SocketClientConfiguration.Transports, _ body: () async throws -> Void) async throws {
        let ended = NIOLockedValueBox(false)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await manager.run()
                ended.withLockedValue { $0 = true }
            }
            var failure: (any Error)?
            do {
                try await body()
            } catch {
                failure = error
            }
            await manager.disconnect()
            let returned = await waitUntil { ended.withLockedValue { $0 } }
            #expect(returned, "run() did not return within 5 s after disconnect()")
            if !returned { group.cancelAll() }
            try await group.waitForAll()
            if let failure { throw failure }
        }
    }
}

/// Polls `condition` every 10 ms for at most `timeout`.
private func waitUntil(_ timeout: Duration = .seconds(5), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !(await condition()) {
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: .milliseconds(10))  // only cancellation throws; the loop is bounded anyway
    }
    return true
}

// MARK: - The python server process

/// Starts the server for one test and stops it afterwards, whatever `body` did.
private func withPythonServer(_ body: (PythonServer) async throws -> Void) async throws {
    let server = try await PythonServer.start()
    do {
        try await body(server)
    } catch {
        await server.stop()
        Issue.record("server log:\n\(server.log)")
        throw error
    }
    await server.stop()
}

/// `Tests/Interop/socketio_server_peer.py` running as a ``PeerProcess``, with the port it printed.
private struct PythonServer {
    let port: Int
    private let peer: PeerProcess

    /// `socketio_server_peer.py`, found from this file's path.
    static var scriptURL: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // ParleyClientTests
            .deletingLastPathComponent()  // Tests
            .appendingPathComponent("Interop/socketio_server_peer.py")
    }

    /// Starts the script and waits (at most 10 s) for the port on its first stdout line.
    static func start() async throws -> PythonServer {
        // --exit-on-stdin-eof: if this test process dies, the pipe closes and the server exits.
        let peer = try PeerProcess.python(script: scriptURL, arguments: ["--exit-on-stdin-eof", "--lifetime", "300"], standardInput: .pipeHeldOpen)
        let port = await peer.firstLine(timeout: .seconds(10)).flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let server = PythonServer(port: port ?? 0, peer: peer)
        guard port != nil else {
            await server.stop()
            Issue.record("the python server printed no port within 10 s:\n\(server.log)")
            throw PeerStartFailed()
        }
        return server
    }

    struct PeerStartFailed: Error {}

    /// The JSON lines the server printed after the port.
    var observations: [JSONValue] { peer.jsonLines }

    /// The first observation named `event` that matches `predicate`, waiting at most `timeout`.
    func waitFor(_ event: String, timeout: Duration = .seconds(5), where predicate: (JSONValue) -> Bool = { _ in true }) async -> JSONValue? {
        await peer.waitForJSONLine(timeout: timeout) { $0["event"] == .string(event) && predicate($0) }
    }

    /// What the server printed (observations, then python-socketio's log), for failure messages.
    var log: String {
        "--- server stdout\n\(PeerProcess.clip(peer.stdout))\n--- server stderr\n\(PeerProcess.clip(peer.stderr))"
    }

    /// SIGTERM, SIGKILL after 3 s, then waits (2 s more at most) for the exit. Records an
    /// issue when the server did not exit cleanly on SIGTERM.
    func stop() async {
        let end = await peer.terminate(killAfter: .seconds(3))
        if !end.isCleanExit {
            Issue.record("the python server did not exit cleanly on SIGTERM (status \(end.status ?? -1), \(end.bySignal ? "signal" : "exit")\(end.killed ? ", killed" : "")):\n\(log)")
        }
    }
}
