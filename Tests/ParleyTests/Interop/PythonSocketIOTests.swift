import Foundation
import Parley
import ParleyEngine
import ParleyTesting
import Testing

/// python-socketio's `AsyncClient` (PyPI 5.18.1, an independent implementation) against an
/// in-process Parley server, over polling, over WebSocket and with the default upgrade
/// (PROTOCOL-NOTES §2; the JS reference behaviour, not python-socketio's server quirks).
///
/// Each test starts a server on 127.0.0.1 port 0 with its own handlers, then runs
/// `Tests/Interop/socketio_client_scenario.py` with the interpreter in `PARLEY_PYTHON`
/// (`bash Tests/run.sh` sets it). The script prints JSON observations and exits 0 when its own
/// checks passed; the test asserts on both and on what the server saw. Every wait is bounded.
@Suite("python-socketio client (interop)", .serialized, .timeLimit(.minutes(2)))
struct PythonSocketIOTests {
    /// The `transports` a python client is created with.
    enum Transport: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case polling
        case websocket
        /// Polling first, then the upgrade to WebSocket.
        case `default`

        var testDescription: String { rawValue }
        /// The transport the client must end up on.
        var final: String { self == .polling ? "polling" : "websocket" }
    }

    // MARK: Namespaces and middleware

    @Test(arguments: Transport.allCases)
    func connectsToTwoNamespacesAndSeesTheMiddlewaresRefusal(transport: Transport) async throws {
        let tokens = Recorder<String>()
        let adminSockets = Recorder<String>()
        try await withServer { server in
            server.onConnection { socket in
                socket.on("whoami") { event in try event.ack(event.socket.namespace.name, event.socket.id) }
            }
            let admin = server.of("/admin")
            admin.use { handshake in
                struct Auth: Decodable { let token: String }
                let token = try handshake.auth(as: Auth.self)?.token
                tokens.append(token ?? "<none>")
                guard token == "secret" else { throw ConnectError("not authorized", data: ["reason": "bad token"]) }
            }
            admin.onConnection { socket in
                adminSockets.append(socket.id)
                socket.on("whoami") { event in try event.ack(event.socket.namespace.name, event.socket.id) }
            }
        } run: { _, url in
            let outcome = try await runScenario("namespaces", url: url, transport: transport)
            guard expectSucceeded(outcome, transport: transport) else { return }

            let main = outcome.first("connect", where: { $0["namespace"] == "/" })?["sid"]?.string
            let adminID = outcome.first("connect", where: { $0["namespace"] == "/admin" })?["sid"]?.string
            #expect(main != nil && adminID != nil && main != adminID, "distinct socket ids per namespace")
            #expect(outcome.first("whoami", where: { $0["namespace"] == "/" })?["value"] == .array([.string("/"), main.map(JSON.string) ?? .null]))
            #expect(outcome.first("whoami", where: { $0["namespace"] == "/admin" })?["value"] == .array([.string("/admin"), adminID.map(JSON.string) ?? .null]))
            #expect(adminSockets.values == [adminID].compactMap { $0 })

            #expect(outcome.first("connect_error")?["data"] == .object([
                "message": .string("not authorized"),
                "data": .object(["reason": .string("bad token")]),
            ]))
            #expect(outcome.first("unexpected_connect") == nil)
            #expect(tokens.values == ["secret", "wrong"])
        }
    }

    // MARK: Events and acks

    struct Greeting: Codable, Sendable {
        let text: String
        let n: Int
        let tags: [String]
        let nested: [String: Bool]
    }

    struct Answer: Codable, Sendable, Equatable {
        let text: String
        let number: Int
        let count: Int
    }

    @Test(arguments: Transport.allCases)
    func exchangesEventsAndAcksInBothDirections(transport: Transport) async throws {
        let echoed = Recorder<String>()
        let answers = Recorder<Answer>()
        let notes = Recorder<String>()
        let failures = Recorder<String>()
        try await withServer { server in
            server.onConnection { socket in
                socket.on("echo") { event in
                    let greeting = try recordingFailure(failures) { try event.argument(0, as: Greeting.self) }
                    echoed.append(greeting.text)
                    try event.ack(greeting)
                }
                socket.on("sum") { event in
                    let numbers = try recordingFailure(failures) { try event.argument(0, as: [Int].self) }
                    try event.ack("sum", numbers.reduce(0, +))
                }
                socket.on("ask", answer: { event async throws -> Answer in
                    let reply = try await recordingFailureAsync(failures) {
                        try await event.socket.emitWithAck("question", "what is six times seven?", timeout: .seconds(5))
                    }
                    let answer = try recordingFailure(failures) {
                        Answer(text: try reply.decode(String.self, at: 0), number: try reply.decode(Int.self, at: 1), count: reply.count)
                    }
                    answers.append(answer)
                    return answer
                })
                socket.on("note") { event in
                    let note = try recordingFailure(failures) { try event.argument(0, as: String.self) }
                    notes.append(note)
                    try event.socket.emit("noted", note)
                }
            }
        } run: { _, url in
            let outcome = try await runScenario("events_acks", url: url, transport: transport)
            guard expectSucceeded(outcome, transport: transport) else { return }

            let text = #"héllo ✓ 😀 "quoted" \ /"#
            #expect(echoed.values == [text, text])
            #expect(outcome.first("sum_call")?["value"] == .array([.string("sum"), .number(10)]))
            #expect(outcome.first("question")?["value"] == .string("what is six times seven?"))
            #expect(answers.values == [Answer(text: "forty-two", number: 42, count: 2)])
            #expect(outcome.first("ask_call")?["value"] == .object(["text": .string("forty-two"), "number": .number(42), "count": .number(2)]))
            #expect(notes.values == ["fire and forget"])
            #expect(outcome.first("noted")?["value"] == .string("fire and forget"))
            #expect(failures.values == [])
        }
    }

    // MARK: Binary

    struct Upload: Codable, Sendable {
        let name: String
        let data: Data
        let parts: [Data]
    }

    @Test(arguments: Transport.allCases)
    func carriesBinaryInsideObjectsBothWays(transport: Transport) async throws {
        let uploads = Recorder<Upload>()
        let failures = Recorder<String>()
        try await withServer { server in
            server.onConnection { socket in
                socket.on("upload") { event in
                    let upload = try recordingFailure(failures) { try event.argument(0, as: Upload.self) }
                    uploads.append(upload)
                    try event.ack(upload)
                    try event.socket.emit(
                        "download",
                        Upload(name: "from the server", data: Data(upload.data.reversed()), parts: [Data([0x00]), Data([0xAB, 0xCD])])
                    )
                }
            }
        } run: { _, url in
            let outcome = try await runScenario("binary", url: url, transport: transport)
            guard expectSucceeded(outcome, transport: transport) else { return }

            let blob = Data((0..<4).flatMap { _ in (0...255).map(UInt8.init) } + [0x1E, 0x00, 0xFF])
            #expect(uploads.values.count == 1)
            #expect(uploads.values.first?.name == "blob")
            #expect(uploads.values.first?.data == blob)
            #expect(uploads.values.first?.parts == [Data([1, 2, 3]), Data([0xFE])])

            let ack = outcome.first("upload_ack")
            #expect(ack?["name"] == .string("blob"))
            #expect(ack?["data_is_bytes"] == .bool(true))
            #expect(ack?["data_equal"] == .bool(true))
            #expect(ack?["parts_equal"] == .bool(true))
            let download = outcome.first("download")
            #expect(download?["name"] == .string("from the server"))
            #expect(download?["data_is_bytes"] == .bool(true))
            #expect(download?["data_equal"] == .bool(true))
            #expect(download?["parts"] == .array([.array([.number(0)]), .array([.number(0xAB), .number(0xCD)])]))
            #expect(failures.values == [])
        }
    }

    // MARK: Rooms

    @Test(arguments: Transport.allCases)
    func aRoomBroadcastReachesItsMembersAndSocketToLeavesTheSenderOut(transport: Transport) async throws {
        let failures = Recorder<String>()
        try await withServer { server in
            server.onConnection { [unowned server] socket in  // unowned: the server outlives its handlers; no cycle
                socket.on("join") { event in
                    let room = try recordingFailure(failures) { try event.argument(0, as: String.self) }
                    event.socket.join(room)
                    try event.ack(event.socket.rooms.sorted())
                }
                socket.on("announce") { event in
                    let text = try recordingFailure(failures) { try event.argument(0, as: String.self) }
                    try server.to("r").emit("news-all", text)
                    try event.ack()
                }
                socket.on("shout") { event in
                    let text = try recordingFailure(failures) { try event.argument(0, as: String.self) }
                    try event.socket.to("r").emit("news", text)
                    try event.ack()
                }
            }
        } run: { server, url in
            let outcome = try await runScenario("rooms", url: url, transport: transport)
            guard expectSucceeded(outcome, transport: transport) else { return }

            for joined in outcome.all("joined") {
                let rooms = joined["rooms"]?.array ?? []
                #expect(rooms.count == 2 && rooms.contains(.string("r")), "rooms of \(joined["client"] ?? .null): \(rooms)")
            }
            func received(_ client: String) -> (newsAll: JSON?, news: JSON?) {
                let observation = outcome.first("received", where: { $0["client"] == .string(client) })
                return (observation?["news_all"], observation?["news"])
            }
            let all = JSON.array([.string("to everyone in r")])
            let shout = JSON.array([.string("from the sender")])
            #expect(received("sender").newsAll == all)
            #expect(received("sender").news == .array([]), "socket.to(room) must leave the sender out")
            #expect(received("member1").newsAll == all)
            #expect(received("member1").news == shout)
            #expect(received("member2").newsAll == all)
            #expect(received("member2").news == shout)
            #expect(received("outsider").newsAll == .array([]))
            #expect(received("outsider").news == .array([]))
            #expect(failures.values == [])
            #expect(await waitUntil { server.of("/").sockets.isEmpty }, "sockets left after the clients disconnected")
        }
    }

    // MARK: Disconnect reasons

    @Test(arguments: Transport.allCases)
    func theServerSeesTheClientLeaveThroughItsPublicDisconnect(transport: Transport) async throws {
        let reasons = Recorder<String>()
        try await withServer { server in
            server.onConnection { socket in
                socket.on("ping") { event in try event.ack("pong") }
                socket.onDisconnect { reason in reasons.append(reason.code.description) }
            }
        } run: { server, url in
            let outcome = try await runScenario("client_disconnect", url: url, transport: transport)
            guard expectSucceeded(outcome, transport: transport) else { return }
            #expect(outcome.first("pong")?["value"] == .string("pong"))
            #expect(outcome.first("disconnected")?["reasons"] == .array(["client disconnect"]), "python-socketio's name for its own disconnect")
            #expect(await waitUntil { !reasons.values.isEmpty }, "onDisconnect never ran")
            // python-socketio's disconnect() queues `41` and then the Engine.IO close; over
            // polling both go out in one POST. Over WebSocket python-engineio closes the socket
            // before its write loop sends them (the write fails on the closing transport), so
            // the server sees the WebSocket close itself: `transport close`, every time.
            let expected = transport == .polling ? "client namespace disconnect" : "transport close"
            #expect(reasons.values == [expected])
            #expect(await waitUntil { server.of("/").sockets.isEmpty })
        }
    }

    @Test(arguments: Transport.allCases)
    func theClientSeesTheServersDisconnect(transport: Transport) async throws {
        let reasons = Recorder<String>()
        try await withServer { server in
            server.onConnection { socket in
                socket.on("kick-me") { event in
                    try event.ack("bye")
                    event.socket.disconnect()
                }
                socket.onDisconnect { reason in reasons.append(reason.code.description) }
            }
        } run: { server, url in
            let outcome = try await runScenario("server_disconnect", url: url, transport: transport)
            guard expectSucceeded(outcome, transport: transport) else { return }
            #expect(outcome.first("kick_ack")?["value"] == .string("bye"))
            let disconnected = outcome.first("disconnected")
            #expect(disconnected?["reasons"] == .array([.string("server disconnect")]), "python-socketio's name for a server DISCONNECT packet")
            #expect(disconnected?["connected"] == .bool(false))
            #expect(await waitUntil { !reasons.values.isEmpty }, "onDisconnect never ran")
            #expect(reasons.values == ["server namespace disconnect"])
            #expect(await waitUntil { server.of("/").sockets.isEmpty })
        }
    }

    @Test(arguments: Transport.allCases)
    func theServerSeesTheTransportGoWhenTheClientProcessIsKilled(transport: Transport) async throws {
        let reasons = Recorder<String>()
        try await withServer { server in
            server.onConnection { socket in
                socket.on("ping") { event in try event.ack("pong") }
                socket.onDisconnect { reason in reasons.append(reason.code.description) }
            }
        } run: { server, url in
            let client = try PythonClient(scenario: "killed", url: url, transport: transport)
            guard await client.waitFor("ready", timeout: .seconds(15)) != nil else {
                client.kill()
                Issue.record("the python client never became ready: \(await client.finish(timeout: .seconds(5)).summary)")
                return
            }
            #expect(server.of("/").sockets.count == 1)
            #expect(reasons.values == [])
            client.kill()
            let outcome = await client.finish(timeout: .seconds(10))
            #expect(outcome.killedBySignal, "the python process was not killed: \(outcome.summary)")
            #expect(outcome.transports == [transport.final])
            #expect(await waitUntil { !reasons.values.isEmpty }, "onDisconnect never ran after SIGKILL")
            let reason = reasons.values.first
            #expect(reason == "transport close" || reason == "transport error", "reason \(reason ?? "none")")
            #expect(server.of("/").sockets.isEmpty)
        }
    }

    // MARK: Emit in the connection handler

    @Test(arguments: Transport.allCases)
    func anEmitInTheConnectionHandlerArrivesAfterTheConnect(transport: Transport) async throws {
        let socketIDs = Recorder<String>()
        let failures = Recorder<String>()
        try await withServer { server in
            server.onConnection { socket in
                socketIDs.append(socket.id)
                do {
                    try socket.emit("welcome", socket.id)
                } catch {
                    failures.append("emit failed: \(error)")
                }
            }
        } run: { _, url in
            let outcome = try await runScenario("connect_emit", url: url, transport: transport)
            guard expectSucceeded(outcome, transport: transport) else { return }
            let id = try #require(socketIDs.values.first)
            #expect(socketIDs.values.count == 1)
            #expect(outcome.first("order")?["value"] == .array([
                .array([.string("connect"), .string(id)]),
                .array([.string("welcome"), .string(id)]),
            ]))
            #expect(failures.values == [])
        }
    }
}

/// Runs `body`, recording its error (a decoding failure in a handler would otherwise only be
/// logged, and the test would see a missing ack) before rethrowing it.
private func recordingFailure<T>(_ failures: Recorder<String>, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch {
        failures.append("\(error)")
        throw error
    }
}

private func recordingFailureAsync<T>(_ failures: Recorder<String>, _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        failures.append("\(error)")
        throw error
    }
}
