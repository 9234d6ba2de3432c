import NIOCore
import NIOEmbedded
@testable import Parley
import ParleyEngine
import ParleyProtocol
import ParleyTesting
import Synchronization
import Testing

/// What a careless or hostile client cannot do to the Socket.IO layer: grow the namespace
/// table with names of its choosing, or start unbounded work (`Protocol/socket.md`).
@Suite("Abuse limits")
struct AbuseLimitsTests {
    let loop = NIOAsyncTestingEventLoop()

    @Test func anEmptyDynamicNamespaceIsRemovedWhenItsLastSocketLeaves() async throws {
        let server = SocketServer(configuration: SocketServerConfiguration())
        server.of(matching: { $0.hasPrefix("/room-") })
        let before = server.core.namespaceCount
        let first = try await InMemoryTransport(server: server, eventLoop: loop)
        let second = try await InMemoryTransport(server: server, eventLoop: loop)
        try await first.receive("0/room-1,")
        try await second.receive("0/room-1,")
        #expect(server.core.namespaceCount == before + 1)
        try await first.receive("1/room-1,")
        #expect(server.core.namespaceCount == before + 1, "one socket is still there")
        try await second.drop()
        #expect(server.core.namespaceCount == before)
        // The name works again afterwards, as a new namespace.
        let third = try await InMemoryTransport(server: server, eventLoop: loop)
        try await third.receive("0/room-1,")
        #expect(await third.takeSent().first?.hasPrefix("0/room-1,{\"sid\":") == true)
    }

    @Test func dynamicNamespacesPastTheLimitAreRefused() async throws {
        var configuration = SocketServerConfiguration()
        configuration.maxDynamicNamespaces = 2
        let server = SocketServer(configuration: configuration)
        server.of(matching: { _ in true })
        let client = try await InMemoryTransport(server: server, eventLoop: loop)
        try await client.receive("0/a,")
        try await client.receive("0/b,")
        try await client.receive("0/c,")
        let sent = await client.takeSent()
        #expect(sent.count == 3)
        #expect(sent.last == #"4/c,{"message":"Too many namespaces"}"#)
        #expect(server.core.namespaceCount == 2)
    }

    @Test func aConnectRefusedByMiddlewareCreatesNoNamespace() async throws {
        let server = SocketServer(configuration: SocketServerConfiguration())
        let template = server.of(matching: { $0.hasPrefix("/room-") })
        template.use { _ in throw ConnectError("no") }
        let client = try await InMemoryTransport(server: server, eventLoop: loop)
        for index in 0..<50 { try await client.receive("0/room-\(index),") }
        let refusals = try await eventually(client) { $0.count == 50 }
        #expect(refusals.allSatisfy { $0.hasSuffix(#"{"message":"no"}"#) })
        #expect(server.core.namespaceCount == 0)
    }

    @Test func tooManyHandlersInFlightCloseTheConnectionAndShutdownCancelsThem() async throws {
        var configuration = SocketServerConfiguration()
        configuration.maxPendingHandlersPerConnection = 2
        let server = SocketServer(configuration: configuration)
        let started = Recorder<Int>()
        server.onConnection { socket in
            socket.on("slow", answer: { _ -> String in
                started.append(1)
                try await Task.sleep(for: .seconds(3600))
                return "never"
            })
        }
        let client = try await InMemoryTransport(server: server, eventLoop: loop)
        try await client.receive("0")
        try await client.receive(#"21["slow"]"#)
        try await client.receive(#"22["slow"]"#)
        #expect(client.closeReason == nil)
        try await client.receive(#"23["slow"]"#)
        await loop.run()
        #expect(client.closeReason?.code == .forcedClose)
        #expect(server.core.tasks.count == 2)
        #expect(await eventually { started.values.count == 2 })
        await server.shutdown()
        #expect(server.core.tasks.count == 0)
    }

    @Test func cancellingRunEndsItWhileAMiddlewareIsStillWaiting() async throws {
        var configuration = SocketServerConfiguration()
        configuration.engine.address = .hostname("127.0.0.1", port: 0)
        let listening = AsyncStream.makeStream(of: Void.self)
        let server = SocketServer(configuration: configuration) { _ in listening.continuation.yield() }
        let entered = Recorder<Int>()
        server.of("/").use { _ in
            entered.append(1)
            try await Task.sleep(for: .seconds(3600))
        }
        let running = Task { try await server.run() }
        var iterator = listening.stream.makeAsyncIterator()
        _ = await iterator.next()
        // The middleware runs as a child of `run()`.
        let client = try await InMemoryTransport(server: server, eventLoop: loop)
        try await client.receive("0")
        #expect(await eventually { entered.values.count == 1 })
        #expect(server.core.tasks.count == 1)
        running.cancel()
        let ended = await withTaskGroup(of: Bool.self) { group in
            group.addTask { _ = try? await running.value; return true }
            group.addTask { try? await Task.sleep(for: .seconds(10)); return false }
            defer { group.cancelAll() }
            return await group.next() ?? false
        }
        #expect(ended, "run() did not return within 10 s of its cancellation")
        #expect(server.core.tasks.count == 0)
    }

    @Test func anAnsweredAckCancelsItsTimer() async throws {
        let server = SocketServer(configuration: SocketServerConfiguration())
        let connected = Recorder<Socket>()
        server.onConnection { socket in connected.append(socket) }
        let client = try await InMemoryTransport(server: server, eventLoop: loop)
        try await client.receive("0")
        _ = await client.takeSent()
        let socket = try #require(connected.values.first)
        let answer = Task { try await socket.emitWithAck("ping", timeout: .seconds(3_600)) }
        let sent = try await eventually(client) { !$0.isEmpty }
        let packet = try #require(sent.first)
        let id = try #require(packet.dropFirst().prefix { $0.isNumber }.description.nilIfEmpty)
        #expect(packet == "2\(id)[\"ping\"]")
        let timer = try #require(socket.state.withLock { $0.pendingAcks.values.first?.timer })
        let cancelled = Recorder<Bool>()
        timer.futureResult.whenFailure { error in cancelled.append((error as? EventLoopError) == .cancelled) }
        try await client.receive("3\(id)[\"pong\"]")
        #expect(try await answer.value.decode(String.self, at: 0) == "pong")
        await loop.run()
        // The hour-long deadline is gone with its reason, not left to fire.
        #expect(cancelled.values == [true])
    }
}

extension String {
    fileprivate var nilIfEmpty: String? { isEmpty ? nil : self }
}
