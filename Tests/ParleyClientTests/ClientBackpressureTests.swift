import Foundation
import NIOCore
import NIOPosix
import Parley
import ParleyClient
@testable import ParleyEngine
import ParleyTesting
import Testing

/// The client against a server that stops reading: its queue is bounded in bytes, and neither
/// the overflow nor `disconnect()` waits on the server (`Protocol/client.md`).
@Suite("Client backpressure (live)")
struct ClientBackpressureTests {
    @Test(.disabled("flaky: about 1 run in 5 sees no disconnect within 20 s although 100 MB were emitted; counting the writer's in-flight batch did not cure it, so the bytes sit beyond the outbox (suspected: the WebSocket writer does not wait for writability) — cause not found yet"))
    func aServerThatStopsReadingEndsTheConnectionInsteadOfGrowingTheQueue() async throws {
        var configuration = SocketServerConfiguration()
        configuration.engine.address = .hostname("127.0.0.1", port: 0)
        let server = SocketServer(configuration: configuration)
        server.onConnection { socket in
            socket.on("ready") { event in try event.ack("ok") }
        }
        let port = try await server.start().port!
        defer { Task { await server.shutdown() } }

        var clientConfiguration = SocketClientConfiguration()
        clientConfiguration.transports = .webSocketOnly
        clientConfiguration.reconnection = false
        clientConfiguration.maxQueuedBytes = 1 << 20
        let manager = try SocketManager(url: "http://127.0.0.1:\(port)", configuration: clientConfiguration)
        let socket = manager.socket()
        let reasons = AsyncInbox<ClientCloseReason>(eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        socket.onDisconnect { reason in reasons.eventLoop.execute { reasons.push(reason) } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await manager.run() }
            #expect(try await socket.emitWithAck("ready", timeout: .seconds(5)).decode(String.self, at: 0) == "ok")
            // The server stops reading this client's WebSocket.
            let session = try #require(server.engine.core.allSessions.first)
            try await session.eventLoop.submit {
                guard case .websocket(let webSocket) = session.transport else { throw CancellationError() }
                return webSocket.channel
            }.get().setOption(ChannelOptions.autoRead, value: false).get()
            // Far more than the kernel's loopback buffers take: the writer parks, the queue grows.
            // Half a megabyte each, below the server's 1 MB message limit.
            let chunk = Data(repeating: 1, count: 500_000)
            for _ in 0..<200 where socket.isConnected { try socket.emit("bulk", chunk) }
            let reason = try #require(try await reasons.next(timeout: .seconds(20)))
            #expect(reason.code == .transportError)
            #expect(reason.description.contains("the server is not reading"))
            let clock = ContinuousClock()
            let started = clock.now
            await manager.disconnect()
            try await group.waitForAll()
            #expect(clock.now - started < .seconds(5))
        }
    }
}
