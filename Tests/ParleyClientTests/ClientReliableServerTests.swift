import Foundation
import NIOCore
import NIOConcurrencyHelpers
import Parley
import ParleyClient
import ParleyProtocol
import ParleyStore
import ParleyTesting
import Testing

/// `ParleyClient` with reliable delivery against the real reliable server (the other suites
/// play the server's part by hand): room history and positions, binary queued messages, keyed
/// emits answered once, over both transports.
@Suite("Reliable client against the reliable server", .serialized)
struct ClientReliableServerTests {
    /// A server with reliable delivery in memory; users are named by the auth field `user`.
    static func server(_ setUp: @escaping @Sendable (Socket) -> Void) async throws -> (SocketServer, Int) {
        var configuration = SocketServerConfiguration()
        configuration.engine.address = .hostname("127.0.0.1", port: 0)
        configuration.reliableDelivery = ReliableDelivery()
        let server = SocketServer(configuration: configuration)
        server.of("/").use { handshake in
            struct Auth: Decodable { var user: String? }
            if let user = try handshake.auth(as: Auth.self)?.user { handshake.identify(user: user) }
        }
        server.onConnection(setUp)
        return (server, try await server.start().port!)
    }

    static let transports: [SocketClientConfiguration.Transports] = [.pollingOnly, .webSocketOnly]

    @Test(arguments: transports)
    func roomHistoryLoadsFromTheRememberedPositionAndLiveRepeatsAreDropped(_ transports: SocketClientConfiguration.Transports) async throws {
        let (server, port) = try await Self.server { socket in
            socket.on("join", answer: { event -> String in
                let room = try event.argument(0, as: String.self)
                socket.join(room)
                return room
            })
        }
        let store = InMemoryClientReliableStore()
        let manager = try ClientReliableTests.manager(port: port, store: store, transports: transports)
        let socket = manager.socket("/", auth: .value(["user": "reader"]))
        let live = NIOLockedValueBox<[String]>([])
        socket.on("said") { event in
            let text = try event.argument(0, as: String.self)
            live.withLockedValue { $0.append(text) }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await manager.run() }
            for text in ["a", "b", "c"] { try await server.to("lobby").reliable.emit("said", text) }
            _ = try await socket.emitWithAck("join", "lobby", timeout: .seconds(5))

            let first = try await socket.history(room: "lobby", limit: 2)
            #expect(first.messages.map { try! $0.event.argument(0, as: String.self) } == ["b", "c"])
            #expect(!first.reset)

            // Live now, and nothing again from the history.
            try await server.to("lobby").reliable.emit("said", "d")
            #expect(await eventually { live.withLockedValue { $0 } == ["d"] })
            let again = try await socket.history(room: "lobby")
            #expect(again.messages.isEmpty)
            #expect(!again.reset)
            #expect(again.latest != first.latest)

            // Not a member: refused with the server's code.
            await #expect(throws: RoomHistoryError.self) { _ = try await socket.history(room: "elsewhere") }
            await manager.disconnect()
            try await group.waitForAll()
        }
        await server.shutdown()
    }

    @Test(arguments: transports)
    func aQueuedMessageWithBinaryArrivesIntactOnceAndKeyedEmitsAreAnsweredOnce(_ transports: SocketClientConfiguration.Transports) async throws {
        let runs = NIOLockedValueBox(0)
        let (server, port) = try await Self.server { socket in
            socket.on("send", answer: { event -> String in
                runs.withLockedValue { $0 += 1 }
                return try await socket.namespace.user("receiver").reliable.emit("blob", try event.argument(0, as: Data.self))
            })
        }
        let bytes = Data((0...255).map(UInt8.init))
        let senderManager = try ClientReliableTests.manager(port: port, store: InMemoryClientReliableStore(), transports: transports)
        let sender = senderManager.socket("/", auth: .value(["user": "sender"]))
        let receiverManager = try ClientReliableTests.manager(port: port, store: InMemoryClientReliableStore(), transports: transports)
        let receiver = receiverManager.socket("/", auth: .value(["user": "receiver"]))
        let received = NIOLockedValueBox<[Data]>([])
        receiver.on("blob") { event in
            let data = try event.argument(0, as: Data.self)
            received.withLockedValue { $0.append(data) }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await senderManager.run() }
            let emit = try await sender.emitReliable("send", bytes)
            let id = try await emit.answer().decode(String.self, at: 0)
            #expect(id.contains("."))
            #expect(try await server.user("receiver").queueState().messages == 1)
            // The receiver was offline; it connects now.
            group.addTask { try await receiverManager.run() }
            #expect(await eventually { received.withLockedValue { $0 } == [bytes] })
            #expect(await eventuallyAsync { try await server.user("receiver").queueState().messages == 0 })
            #expect(runs.withLockedValue { $0 } == 1)
            await senderManager.disconnect()
            await receiverManager.disconnect()
            try await group.waitForAll()
        }
        await server.shutdown()
    }
}
