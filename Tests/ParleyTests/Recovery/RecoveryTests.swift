import Foundation
import NIOCore
import NIOEmbedded
import Parley
import ParleyProtocol
import ParleySQLite
import ParleyStore
import ParleyTesting
import Testing

/// Connection state recovery through in-memory transports: what the wire carries, what a
/// recovering client gets back, and when it gets a fresh socket instead.
@Suite("Connection state recovery")
struct RecoveryTests {
    let loop = NIOAsyncTestingEventLoop()

    func makeServer(_ adjust: (inout ConnectionStateRecovery) -> Void = { _ in }) async throws -> SocketServer {
        var configuration = SocketServerConfiguration()
        configuration.engine.address = .hostname("127.0.0.1", port: 0)
        var recovery = ConnectionStateRecovery()
        adjust(&recovery)
        configuration.connectionStateRecovery = recovery
        let server = SocketServer(configuration: configuration)
        try await server.start()
        return server
    }

    /// Reads what the server sent to `client` until `done` holds for everything read (5 s at most).
    func read(_ client: InMemoryTransport, until done: ([String]) -> Bool) async throws -> [String] {
        var all: [String] = []
        for _ in 0..<500 {
            all += await client.takeSent()
            if done(all) { return all }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("timed out; read so far: \(all)")
        return all
    }

    struct Connected {
        let client: InMemoryTransport
        let sid: String
        let pid: String?
    }

    /// Opens a transport and connects to `/` with `auth` (a JSON object), returning the reply's ids.
    func connect(_ server: SocketServer, auth: String = "") async throws -> (Connected, [String]) {
        let client = try await InMemoryTransport(server: server, eventLoop: loop)
        try await client.receive("0" + auth)
        let sent = try await read(client) { $0.contains { $0.hasPrefix("0{") } }
        let reply = try #require(sent.first { $0.hasPrefix("0{") })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(reply.dropFirst().utf8)) as? [String: String])
        return (Connected(client: client, sid: try #require(object["sid"]), pid: object["pid"]), sent)
    }

    /// The offset an event packet carries as its last argument.
    func offset(of packet: String) throws -> String {
        let array = try #require(try JSONSerialization.jsonObject(with: Data(packet.drop { $0 != "[" }.utf8)) as? [Any])
        return try #require(array.last as? String)
    }

    @Test func theConnectReplyCarriesAPidOnlyWithRecoveryOn() async throws {
        let server = try await makeServer()
        server.onConnection { _ in }
        let (connected, _) = try await connect(server)
        #expect(connected.pid != nil)
        #expect(connected.pid != connected.sid)
        await server.shutdown()

        let plain = SocketServer(configuration: SocketServerConfiguration())
        plain.onConnection { _ in }
        let client = try await InMemoryTransport(server: plain, eventLoop: loop)
        try await client.receive("0")
        let sent = await client.takeSent()
        #expect(sent.count == 1 && !sent[0].contains("pid"))
    }

    @Test func plainEventsCarryAnOffsetAndAcksVolatileAndAckedEventsDoNot() async throws {
        let server = try await makeServer()
        let sockets = Recorder<Socket>()
        server.onConnection { socket in
            sockets.append(socket)
            socket.on("ask") { event in try event.ack("answer") }
        }
        let (connected, _) = try await connect(server)
        let socket = try #require(sockets.values.first)
        try socket.emit("direct", 1)
        try server.broadcast.emit("all", "x")
        try server.broadcast.volatile.emit("volatile", 2)
        try await connected.client.receive(#"25["ask"]"#)
        let sent = try await read(connected.client) { $0.count >= 4 }
        #expect(sent.count == 4)
        let direct = try #require(sent.first { $0.contains("direct") })
        let all = try #require(sent.first { $0.contains("\"all\"") })
        #expect(sent.contains(#"2["volatile",2]"#))
        #expect(sent.contains(#"35["answer"]"#))
        let first = try #require(RecoveryOffset(try offset(of: direct)))
        let second = try #require(RecoveryOffset(try offset(of: all)))
        #expect(first.epoch == second.epoch)
        #expect(first.sequence < second.sequence)
        // Within an epoch the strings sort as the sequences do.
        #expect(first.description < second.description)
        await server.shutdown()
    }

    @Test func aClientThatLostItsConnectionGetsItsSocketRoomsDataAndMissedPacketsBack() async throws {
        let server = try await makeServer()
        let sockets = Recorder<Socket>()
        server.onConnection { socket in
            sockets.append(socket)
            if !socket.recovered {
                socket.join("r1")
                socket.data["nick"] = "ada"
            }
        }
        let (first, _) = try await connect(server)
        let (other, _) = try await connect(server)
        try server.to("r1").emit("news", "before")
        let before = try await read(first.client) { $0.contains { $0.contains("before") } }
        let lastOffset = try offset(of: try #require(before.last))

        try await first.client.drop(EngineCloseReason(.transportClose))
        try server.to("r1").emit("news", "missed-1")
        try server.broadcast.emit("all", "missed-2")
        try server.to("elsewhere").emit("news", "not-for-it")
        _ = other

        let auth = #"{"pid":"\#(try #require(first.pid))","offset":"\#(lastOffset)"}"#
        let (again, sent) = try await connect(server, auth: auth)
        #expect(again.sid == first.sid)
        #expect(again.pid == first.pid)
        // The missed packets, in order, before the CONNECT reply.
        let connectIndex = try #require(sent.firstIndex { $0.hasPrefix("0{") })
        let replayed = Array(sent[..<connectIndex])
        #expect(replayed.count == 2)
        #expect(replayed.first?.contains("missed-1") == true)
        #expect(replayed.last?.contains("missed-2") == true)
        let socket = try #require(sockets.values.last)
        #expect(socket.recovered)
        #expect(socket.id == first.sid)
        #expect(socket.rooms.contains("r1"))
        #expect(socket.data.get("nick", as: String.self) == "ada")
        await server.shutdown()
    }

    @Test func anythingElseGetsAFreshSocket() async throws {
        let server = try await makeServer()
        server.onConnection { _ in }
        let (first, _) = try await connect(server)
        let sockets = server.of("/").sockets
        try sockets[0].emit("x")
        let sent = try await read(first.client) { $0.count == 1 }
        let lastOffset = try offset(of: sent[0])
        let pid = try #require(first.pid)

        // An explicit disconnect by the client is not recoverable.
        try await first.client.receive("1")
        let (afterLeave, _) = try await connect(server, auth: #"{"pid":"\#(pid)","offset":"\#(lastOffset)"}"#)
        #expect(afterLeave.sid != first.sid)

        // Unknown pid, junk offset, an offset of another epoch, a pid that is not a string.
        try await afterLeave.client.drop()
        let attempts = [
            #"{"pid":"nope","offset":"\#(lastOffset)"}"#,
            #"{"pid":"\#(try #require(afterLeave.pid))","offset":"junk"}"#,
            #"{"pid":7,"offset":"\#(lastOffset)"}"#,
        ]
        for auth in attempts {
            let (fresh, _) = try await connect(server, auth: auth)
            #expect(fresh.sid != afterLeave.sid, "\(auth)")
        }
        await server.shutdown()
    }

    @Test func anOffsetFromAnotherEpochOrTheFutureGetsAFreshSocket() async throws {
        let server = try await makeServer()
        server.onConnection { _ in }
        let (first, _) = try await connect(server)
        try server.of("/").sockets[0].emit("x")
        let sent = try await read(first.client) { $0.count == 1 }
        let real = try #require(RecoveryOffset(try offset(of: sent[0])))
        let pid = try #require(first.pid)
        for forged in [RecoveryOffset(epoch: "zzzzzzzz", sequence: real.sequence), RecoveryOffset(epoch: real.epoch, sequence: real.sequence + 1_000_000)] {
            try await first.client.drop()
            let (fresh, _) = try await connect(server, auth: #"{"pid":"\#(pid)","offset":"\#(forged)"}"#)
            #expect(fresh.sid != first.sid)
        }
        await server.shutdown()
    }

    @Test func aSessionOlderThanMaxDisconnectionDurationIsNotRecovered() async throws {
        let server = try await makeServer { $0.maxDisconnectionDuration = .milliseconds(50) }
        server.onConnection { _ in }
        let (first, _) = try await connect(server)
        try server.of("/").sockets[0].emit("x")
        let sent = try await read(first.client) { $0.count == 1 }
        try await first.client.drop()
        try await Task.sleep(for: .milliseconds(120)) // time must pass: the session's age is the subject
        let (fresh, _) = try await connect(server, auth: #"{"pid":"\#(try #require(first.pid))","offset":"\#(try offset(of: sent[0]))"}"#)
        #expect(fresh.sid != first.sid)
        await server.shutdown()
    }

    @Test func middlewaresAreSkippedOnRecoveryUnlessConfigured() async throws {
        for skip in [true, false] {
            let server = try await makeServer { $0.skipMiddlewares = skip }
            let runs = Recorder<Int>()
            server.of("/").use { _ in runs.append(1) }
            server.onConnection { _ in }
            let (first, _) = try await connect(server)
            try server.of("/").sockets[0].emit("x")
            let sent = try await read(first.client) { $0.count == 1 }
            try await first.client.drop()
            let (again, _) = try await connect(server, auth: #"{"pid":"\#(try #require(first.pid))","offset":"\#(try offset(of: sent[0]))"}"#)
            #expect(again.sid == first.sid)
            #expect(runs.values.count == (skip ? 1 : 2))
            await server.shutdown()
        }
    }

    @Test func binaryEventsAreReplayedWithTheirAttachments() async throws {
        let server = try await makeServer()
        server.onConnection { _ in }
        let (first, _) = try await connect(server)
        try server.of("/").sockets[0].emit("x")
        let sent = try await read(first.client) { $0.count == 1 }
        try await first.client.drop()
        try server.broadcast.emit("blob", Data([0, 1, 2, 255]))
        let (_, replay) = try await connect(server, auth: #"{"pid":"\#(try #require(first.pid))","offset":"\#(try offset(of: sent[0]))"}"#)
        #expect(replay.count == 3)
        #expect(replay[0].hasPrefix(#"51-["blob",{"_placeholder":true,"num":0},""#))
        #expect(replay[1] == "<binary:000102ff>")
        #expect(replay[2].hasPrefix("0{"))
        await server.shutdown()
    }

    @Test func aPidWhoseSocketStillLooksConnectedIsTakenOver() async throws {
        let server = try await makeServer()
        server.onConnection { socket in
            if !socket.recovered { socket.join("r") }
        }
        let (first, _) = try await connect(server)
        try server.to("r").emit("x", 1)
        let sent = try await read(first.client) { $0.count == 1 }
        // The server has not seen the first connection go; the client presents its pid anew.
        let (again, _) = try await connect(server, auth: #"{"pid":"\#(try #require(first.pid))","offset":"\#(try offset(of: sent[0]))"}"#)
        #expect(again.sid == first.sid)
        #expect(first.client.closeReason?.code == .transportClose)
        #expect(server.of("/").sockets.count == 1)
        #expect(server.of("/").sockets.first?.rooms.contains("r") == true)
        await server.shutdown()
    }

    @Test func aServerOnTheSameSQLiteFileRecoversTheSocketsOfTheOneBefore() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("recovery.sqlite").path
        let first = try await makeServer { $0.store = SQLiteRecoveryStore(path: path) }
        first.onConnection { socket in
            socket.join("r")
            socket.data["nick"] = "ada"
        }
        let (connected, _) = try await connect(first)
        try first.to("r").emit("x", 1)
        let sent = try await read(connected.client) { $0.count == 1 }
        try await first.flushRecoveryLog()
        // The first server stops while the socket is still connected (as in a crash, nothing
        // saved it as disconnected); the file is released when its writer ends.
        await first.shutdown()

        let second = try await makeServer { $0.store = SQLiteRecoveryStore(path: path) }
        let sockets = Recorder<Socket>()
        second.onConnection { sockets.append($0) }
        try second.to("r").emit("x", 2)
        let auth = #"{"pid":"\#(try #require(connected.pid))","offset":"\#(try offset(of: sent[0]))"}"#
        let (again, replay) = try await connect(second, auth: auth)
        #expect(again.sid == connected.sid)
        #expect(replay.count == 2 && replay[0].hasPrefix(#"2["x",2,"#) && replay[1].hasPrefix("0{"))
        let socket = try #require(sockets.values.first)
        #expect(socket.recovered && socket.rooms.contains("r"))
        #expect(socket.data.get("nick", as: String.self) == "ada")
        await second.shutdown()
    }

    @Test func aStoreThatCannotBeOpenedStopsTheServerAtStart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("garbage.sqlite").path
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: path))
        var configuration = SocketServerConfiguration()
        configuration.engine.address = .hostname("127.0.0.1", port: 0)
        configuration.connectionStateRecovery = ConnectionStateRecovery(store: SQLiteRecoveryStore(path: path))
        let server = SocketServer(configuration: configuration)
        let error = await #expect(throws: StoreError.self) { try await server.start() }
        #expect(error?.code == .corrupt)
        #expect(server.engine.connectionCount == 0)
    }

    @Test func aLogThatWasReplacedGivesAFreshSocketNeverAWrongReplay() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("recovery.sqlite").path
        let first = try await makeServer { $0.store = SQLiteRecoveryStore(path: path) }
        first.onConnection { $0.join("r") }
        let (connected, _) = try await connect(first)
        try first.to("r").emit("x", 1)
        let sent = try await read(connected.client) { $0.count == 1 }
        await first.shutdown()
        // The file is deleted (a reset): the new log has another epoch, and sequences that
        // start at 1 again, where the old offset would point into unrelated packets.
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        let second = try await makeServer { $0.store = SQLiteRecoveryStore(path: path) }
        second.onConnection { _ in }
        for value in 0..<3 { try second.broadcast.emit("x", value) }
        let auth = #"{"pid":"\#(try #require(connected.pid))","offset":"\#(try offset(of: sent[0]))"}"#
        let (again, replay) = try await connect(second, auth: auth)
        #expect(again.sid != connected.sid)
        #expect(replay.count == 1 && replay[0].hasPrefix("0{"))
        await second.shutdown()
    }

    @Test func socketsThatLeftAreFreedWhetherOrNotTheirSessionIsKept() async throws {
        let server = try await makeServer()
        let sockets = Recorder<Weak<Socket>>()
        server.onConnection { socket in
            sockets.append(Weak(socket))
            socket.join("r")
        }
        let (first, _) = try await connect(server)
        try server.to("r").emit("x", 1)
        let sent = try await read(first.client) { $0.count == 1 }
        // A lost connection: the session is kept, the socket object is not.
        try await first.client.drop()
        let auth = #"{"pid":"\#(try #require(first.pid))","offset":"\#(try offset(of: sent[0]))"}"#
        let (again, _) = try await connect(server, auth: auth)
        #expect(again.sid == first.sid)
        // Left on purpose: the session goes too.
        try await again.client.receive("1")
        #expect(sockets.values.count == 2)
        #expect(await eventually { sockets.values.allSatisfy { $0.object == nil } }, "a socket that left is still referenced")
        #expect(server.of("/").sockets.isEmpty)
        await server.shutdown()
    }
}
