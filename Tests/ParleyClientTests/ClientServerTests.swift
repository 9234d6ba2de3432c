import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Parley
import ParleyClient
import ParleyProtocol
import ParleyTesting
import Testing

/// The Swift client against a Parley server on loopback.
@Suite("Client ↔ server (live)")
struct ClientServerTests {
    static func server(_ setUp: (SocketServer) -> Void) async throws -> (SocketServer, Int) {
        var configuration = SocketServerConfiguration()
        configuration.engine.address = .hostname("127.0.0.1", port: 0)
        let server = SocketServer(configuration: configuration)
        setUp(server)
        return (server, try await server.start().port!)
    }

    static let strategies: [SocketClientConfiguration.Transports] = [.pollingOnly, .webSocketOnly, .pollingThenUpgrade, .webSocketFirst]

    @Test(arguments: strategies)
    func connectsEmitsAndGetsAcknowledged(_ transports: SocketClientConfiguration.Transports) async throws {
        let openedWith = NIOLockedValueBox<[String]>([])
        let (server, port) = try await Self.server { server in
            server.onConnection { socket in
                openedWith.withLockedValue { $0.append(socket.handshake.query["transport"] ?? "none") }
                try? socket.emit("welcome", "hello \(socket.id.prefix(4))")
                socket.on("add") { event in try event.ack(try event.arguments.decode([Int].self).reduce(0, +)) }
            }
        }
        defer { Task { await server.shutdown() } }
        var configuration = SocketClientConfiguration()
        configuration.transports = transports
        var logger = Logger(label: "test.client")
        logger.logLevel = ProcessInfo.processInfo.environment["PARLEY_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        let manager = try SocketManager(url: "http://127.0.0.1:\(port)", configuration: configuration, logger: logger)
        let socket = manager.socket()
        let upgrades = NIOLockedValueBox(0)
        manager.onUpgrade { _ in upgrades.withLockedValue { $0 += 1 } }
        let welcomes = NIOLockedValueBox<[String]>([])
        socket.on("welcome") { event in welcomes.withLockedValue { $0.append(try! event.argument(0, as: String.self)) } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await manager.run() }
            let sum = try await socket.emitWithAck("add", 1, 2, 39, timeout: .seconds(5))
            #expect(try sum.decode(Int.self, at: 0) == 42)
            for _ in 0..<200 where welcomes.withLockedValue({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(10)) }
            #expect(welcomes.withLockedValue { $0.count } == 1)
            // Where each strategy opens, and where it ends up.
            let (opensWith, endsOn, upgradeCount): (String, EngineTransportKind, Int) = switch transports {
            case .pollingOnly: ("polling", .polling, 0)
            case .webSocketOnly: ("websocket", .websocket, 0)
            case .pollingThenUpgrade: ("polling", .websocket, 1)
            case .webSocketFirst: ("websocket", .websocket, 0)
            }
            if upgradeCount > 0 {
                for _ in 0..<300 where upgrades.withLockedValue({ $0 }) < upgradeCount { try await Task.sleep(for: .milliseconds(10)) }
            } else {
                // Not a synchronisation: an upgrade the strategy does not allow would start
                // right after the handshake; give it the time to show up.
                try await Task.sleep(for: .milliseconds(500))
            }
            #expect(openedWith.withLockedValue { $0 } == [opensWith])
            #expect(manager.transport == endsOn)
            #expect(upgrades.withLockedValue { $0 } == upgradeCount)
            let again = try await socket.emitWithAck("add", 1, 1, timeout: .seconds(5))
            #expect(try again.decode(Int.self, at: 0) == 2)
            #expect(manager.transport == endsOn)
            await manager.disconnect()
            try await group.waitForAll()
        }
    }

    @Test func aSocketMadeWhileConnectedJoinsOnTheLiveConnection() async throws {
        let (server, port) = try await Self.server { server in
            server.onConnection { socket in
                socket.on("ready") { event in try event.ack("ok") }
            }
            server.of("/late").onConnection { socket in
                socket.on("who") { event in try event.ack(socket.namespace.name) }
            }
        }
        defer { Task { await server.shutdown() } }
        let manager = try SocketManager(url: "http://127.0.0.1:\(port)")
        let main = manager.socket()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await manager.run() }
            #expect(try await main.emitWithAck("ready", timeout: .seconds(5)).decode(String.self, at: 0) == "ok")
            let late = manager.socket("/late")
            #expect(try await late.emitWithAck("who", timeout: .seconds(5)).decode(String.self, at: 0) == "/late")
            await manager.disconnect()
            try await group.waitForAll()
        }
    }
}
