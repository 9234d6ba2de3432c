import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Parley
import ParleyClient
import ParleyProtocol
import ParleyTesting
import Testing

/// `ParleyClient` against a Parley server with connection state recovery on, through a proxy
/// that cuts every connection: the client comes back with the same socket id and every
/// message broadcast to its room meanwhile, in order, over each transport strategy.
@Suite("Client recovery (live)")
struct ClientRecoveryTests {
    static let strategies: [SocketClientConfiguration.Transports] = [.pollingOnly, .webSocketOnly, .pollingThenUpgrade]

    @Test(arguments: strategies)
    func aCutConnectionIsRecoveredWithEveryMissedMessageInOrder(_ transports: SocketClientConfiguration.Transports) async throws {
        var configuration = SocketServerConfiguration()
        configuration.engine.address = .hostname("127.0.0.1", port: 0)
        configuration.connectionStateRecovery = ConnectionStateRecovery()
        // A cut that falls between two long-polls is only noticed by the heartbeat: keep it
        // short, so that the server sees the socket gone within the wait below.
        configuration.engine.pingInterval = .milliseconds(500)
        configuration.engine.pingTimeout = .milliseconds(1_000)
        let server = SocketServer(configuration: configuration)
        server.onConnection { socket in
            if !socket.recovered { socket.join("room") }
            socket.on("ready") { event in try event.ack(socket.recovered) }
        }
        let port = try await server.start().port!
        let proxy = try await TCPProxy.start(upstreamPort: port)

        let (manager, socket, received, connects) = try Self.recordingClient(port: proxy.port, transports: transports)

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await manager.run() }
            #expect(try await socket.emitWithAck("ready", timeout: .seconds(5)).decode(Bool.self, at: 0) == false)
            let firstID = try #require(socket.id)
            // The client needs one event with an offset before it can recover.
            try server.to("room").emit("msg", 0)
            #expect(await eventually { received.withLockedValue { $0 } == [0] })
            if transports == .pollingThenUpgrade {
                #expect(await eventually { manager.transport == .websocket })
            }

            proxy.setRefusing(true)
            await proxy.cutAll()
            #expect(await eventually { server.of("/").sockets.isEmpty })
            // More than the emit buffer's 1 000: a replay is not bounded by it.
            for value in 1...1_500 { try server.to("room").emit("msg", value) }
            proxy.setRefusing(false)

            #expect(await eventually(timeout: .seconds(10)) { received.withLockedValue { $0.count } == 1_501 })
            #expect(received.withLockedValue { $0 } == Array(0...1_500))
            #expect(await eventually { connects.withLockedValue { $0 } == 2 })
            #expect(socket.recovered)
            #expect(socket.id == firstID)
            #expect(try await socket.emitWithAck("ready", timeout: .seconds(5)).decode(Bool.self, at: 0) == true)
            // Live messages still arrive, once.
            try server.to("room").emit("msg", 1_501)
            #expect(await eventually { received.withLockedValue { $0 } == Array(0...1_501) })
            await manager.disconnect()
            try await group.waitForAll()
        }
        await proxy.stop()
        await server.shutdown()
    }

    @Test func aReplayLargerThanTheClientKeepsEndsNotRecoveredInsteadOfWithAHole() async throws {
        var configuration = SocketServerConfiguration()
        configuration.engine.address = .hostname("127.0.0.1", port: 0)
        configuration.connectionStateRecovery = ConnectionStateRecovery()
        let server = SocketServer(configuration: configuration)
        server.onConnection { socket in
            if !socket.recovered { socket.join("room") }
        }
        let port = try await server.start().port!
        let proxy = try await TCPProxy.start(upstreamPort: port)
        let (manager, socket, received, connects) = try Self.recordingClient(port: proxy.port, transports: .webSocketOnly, maxEventsBeforeConnect: 5)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await manager.run() }
            #expect(await eventually { connects.withLockedValue { $0 } == 1 && !server.of("/").sockets.isEmpty })
            try server.to("room").emit("msg", 0)
            #expect(await eventually { received.withLockedValue { $0 } == [0] })
            proxy.setRefusing(true)
            await proxy.cutAll()
            #expect(await eventually { server.of("/").sockets.isEmpty })
            for value in 1...20 { try server.to("room").emit("msg", value) }
            proxy.setRefusing(false)
            #expect(await eventually { connects.withLockedValue { $0 } == 2 })
            // Not a partial replay: none of it, and the application is told.
            #expect(!socket.recovered)
            #expect(received.withLockedValue { $0 } == [0])
            await manager.disconnect()
            try await group.waitForAll()
        }
        await proxy.stop()
        await server.shutdown()
    }

    /// A BenchServer process with recovery on `store`, and the port it listens on.
    static func startBenchServer(store: String) async throws -> (PeerProcess, Int) {
        let server = try PeerProcess.sample("BenchServer", arguments: ["--port", "0", "--recovery-store", store, "--threads", "1"])
        let line = try #require(await server.firstLine(timeout: .seconds(15)), "BenchServer did not start: \(server.stderr)")
        let port = try #require(line.split(separator: ":").last.flatMap { Int($0.prefix { $0.isNumber }) }, "no port in \(line)")
        return (server, port)
    }

    @Test(arguments: strategies)
    func aClientRecoversAfterTheServerIsKilledAndStartedAgainOnTheSameFile(_ transports: SocketClientConfiguration.Transports) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-recovery-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = directory.appendingPathComponent("recovery.sqlite").path
        var (server, port) = try await Self.startBenchServer(store: store)
        let proxy = try await TCPProxy.start(upstreamPort: port)

        let (manager, socket, received, connects) = try Self.recordingClient(port: proxy.port, transports: transports)

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await manager.run() }
            #expect(try await socket.emitWithAck("join", "r", timeout: .seconds(5)).decode(String.self, at: 0) == "r")
            let firstID = try #require(socket.id)
            try await Self.publish(port: port, numbers: [0])
            #expect(await eventually { received.withLockedValue { $0 } == [0] })

            proxy.setRefusing(true)
            await server.killAndWait()
            await proxy.cutAll()
            (server, port) = try await Self.startBenchServer(store: store)
            proxy.setUpstreamPort(port)
            try await Self.publish(port: port, numbers: Array(1...20))
            proxy.setRefusing(false)

            #expect(await eventually(timeout: .seconds(15)) { received.withLockedValue { $0.count } >= 21 })
            #expect(received.withLockedValue { $0 } == Array(0...20))
            #expect(await eventually { connects.withLockedValue { $0 } == 2 })
            #expect(socket.recovered)
            #expect(socket.id == firstID)
            await manager.disconnect()
            try await group.waitForAll()
        }
        await proxy.stop()
        _ = await server.terminate()
    }

    /// Publishes each number to room `r` of the BenchServer on `port`, each acknowledged once
    /// it is committed to the recovery log.
    static func publish(port: Int, numbers: [Int]) async throws {
        var configuration = SocketClientConfiguration()
        configuration.transports = .webSocketOnly
        let manager = try SocketManager(url: "http://127.0.0.1:\(port)", configuration: configuration, logger: logger)
        let socket = manager.socket()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await manager.run() }
            for number in numbers {
                #expect(try await socket.emitWithAck("publish", "r", number, timeout: .seconds(5)).decode(Bool.self, at: 0))
            }
            await manager.disconnect()
            try await group.waitForAll()
        }
    }

    /// A client of `port` that reconnects quickly and records every `msg` number and connect.
    static func recordingClient(
        port: Int,
        transports: SocketClientConfiguration.Transports,
        maxEventsBeforeConnect: Int = SocketClientConfiguration().maxEventsBeforeConnect
    ) throws -> (SocketManager, ClientSocket, NIOLockedValueBox<[Int]>, NIOLockedValueBox<Int>) {
        var configuration = SocketClientConfiguration()
        configuration.transports = transports
        configuration.maxEventsBeforeConnect = maxEventsBeforeConnect
        configuration.backoff = ReconnectBackoff(initial: .milliseconds(50), maximum: .milliseconds(200))
        let manager = try SocketManager(url: "http://127.0.0.1:\(port)", configuration: configuration, logger: logger)
        let socket = manager.socket()
        let received = NIOLockedValueBox<[Int]>([])
        socket.on("msg") { event in
            let value = try event.argument(0, as: Int.self)
            received.withLockedValue { $0.append(value) }
        }
        let connects = NIOLockedValueBox(0)
        socket.onConnect { connects.withLockedValue { $0 += 1 } }
        return (manager, socket, received, connects)
    }

    static var logger: Logger {
        var logger = Logger(label: "test.client")
        logger.logLevel = ProcessInfo.processInfo.environment["PARLEY_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }
}
