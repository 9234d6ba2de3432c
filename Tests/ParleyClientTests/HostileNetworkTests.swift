import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Parley
import ParleyClient
import ParleyProtocol
import ParleyTesting
import Testing

/// The Swift client where the network is not kind: a proxy that accepts the WebSocket upgrade
/// and then forwards nothing, and a server that goes away and comes back on the same port.
@Suite("Hostile networks (live)")
struct HostileNetworkTests {
    @Test func webSocketFirstFallsBackToPollingBehindAProxyThatStallsWebSockets() async throws {
        try await Self.withEchoServer(tag: "echo") { port in
            try await StallingUpgradeProxy.run(upstreamPort: port) { proxy in
                var configuration = SocketClientConfiguration()
                configuration.transports = .webSocketFirst
                configuration.connectTimeout = .seconds(2)
                // No jitter: the fallback takes connectTimeout, then exactly this delay.
                configuration.backoff = ReconnectBackoff(initial: .milliseconds(200), maximum: .milliseconds(200), randomization: 0)
                let manager = try SocketManager(url: "http://127.0.0.1:\(proxy.port)", configuration: configuration, logger: Self.logger)
                let socket = manager.socket()
                let connected = AsyncInbox<ContinuousClock.Instant>(eventLoop: MultiThreadedEventLoopGroup.singleton.next())
                socket.onConnect { connected.eventLoop.execute { connected.push(.now) } }
                let start = ContinuousClock.now
                try await Self.running([manager]) {
                    let connectedAt = try #require(try await connected.next(timeout: .seconds(15)))
                    let elapsed = connectedAt - start
                    print("fallback to polling took \(elapsed)")
                    // It waited out the stalled WebSocket (no open packet within connectTimeout)
                    // and the one backoff delay, then opened on polling at once.
                    #expect(elapsed >= .milliseconds(2_190), "fell back after \(elapsed), before connectTimeout + backoff")
                    #expect(elapsed < .milliseconds(4_000), "fell back after \(elapsed)")
                    #expect(manager.transport == .polling)
                    let reply = try await socket.emitWithAck("echo", "through the proxy", timeout: .seconds(5))
                    #expect(try reply.decode(String.self, at: 0) == "echo:through the proxy")
                    #expect(manager.transport == .polling)
                    // The first connection really was a WebSocket that the proxy stalled.
                    #expect(try await proxy.events.next(timeout: .seconds(1)) == .upgradeStalled)
                }
            }
        }
    }

    @Test func pollingStaysUpWhenTheUpgradeProbeIsStalled() async throws {
        try await Self.withEchoServer(tag: "echo") { port in
            try await StallingUpgradeProxy.run(upstreamPort: port) { proxy in
                var configuration = SocketClientConfiguration()
                configuration.transports = .pollingThenUpgrade
                configuration.upgradeTimeout = .seconds(1)
                let manager = try SocketManager(url: "http://127.0.0.1:\(proxy.port)", configuration: configuration, logger: Self.logger)
                let reconnectAttempts = NIOLockedValueBox(0)
                manager.onReconnectAttempt { _ in reconnectAttempts.withLockedValue { $0 += 1 } }
                let socket = manager.socket()
                try await Self.running([manager]) {
                    let first = try await socket.emitWithAck("echo", "before the probe", timeout: .seconds(5))
                    #expect(try first.decode(String.self, at: 0) == "echo:before the probe")
                    #expect(try await proxy.events.next(timeout: .seconds(5)) == .upgradeStalled)
                    // The client gives up the probe after `upgradeTimeout` and closes it.
                    #expect(try await proxy.events.next(timeout: .seconds(5)) == .stalledConnectionClosedByClient)
                    // Not a synchronisation: time passes, and nothing may tear the session down.
                    try await Task.sleep(for: .seconds(2))
                    #expect(manager.transport == .polling)
                    let after = try await socket.emitWithAck("echo", "after the probe", timeout: .seconds(5))
                    #expect(try after.decode(String.self, at: 0) == "echo:after the probe")
                    #expect(reconnectAttempts.withLockedValue { $0 } == 0)
                }
            }
        }
    }

    @Test func clientsOnEveryTransportReconnectToANewServerOnTheSamePort() async throws {
        let first = try await Self.startEchoServer(port: 0, tag: "first")
        let port = first.port
        let transports: [SocketClientConfiguration.Transports] = [.pollingOnly, .webSocketOnly, .pollingThenUpgrade]
        let reconnects = AsyncInbox<Int>(eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        var managers: [SocketManager] = []
        for (index, transports) in transports.enumerated() {
            var configuration = SocketClientConfiguration()
            configuration.transports = transports
            configuration.backoff = ReconnectBackoff(initial: .milliseconds(200), maximum: .seconds(1))
            let manager = try SocketManager(url: "http://127.0.0.1:\(port)", configuration: configuration, logger: Self.logger)
            manager.onReconnect { _ in reconnects.eventLoop.execute { reconnects.push(index) } }
            _ = manager.socket()  // before `run()`: a socket made later does not join until a reconnect
            managers.append(manager)
        }
        var second: (server: SocketServer, port: Int)?
        do {
            try await Self.running(managers) {
                for manager in managers {
                    let reply = try await manager.socket().emitWithAck("echo", "hello", timeout: .seconds(5))
                    #expect(try reply.decode(String.self, at: 0) == "first:hello")
                }
                // Restart while the third client is on the WebSocket it upgraded to.
                for _ in 0..<500 where managers[2].transport != .websocket { try await Task.sleep(for: .milliseconds(10)) }
                #expect(managers[2].transport == .websocket)

                await first.server.shutdown()
                second = try await Self.startEchoServer(port: port, tag: "second")
                #expect(second?.port == port)

                var reconnected = Set<Int>()
                let deadline = ContinuousClock.now + .seconds(20)
                while reconnected.count < managers.count {
                    let remaining = deadline - ContinuousClock.now
                    // A timeout ends the wait; the expectation below names who is missing.
                    guard remaining > .zero, let index = try? await reconnects.next(timeout: remaining) else { break }
                    reconnected.insert(index)
                }
                #expect(reconnected == Set(managers.indices), "clients that reconnected: \(reconnected.sorted())")
                for (index, manager) in managers.enumerated() {
                    let reply = try await manager.socket().emitWithAck("echo", "again \(index)", timeout: .seconds(5))
                    #expect(try reply.decode(String.self, at: 0) == "second:again \(index)")
                }
            }
        } catch {
            await first.server.shutdown()
            await second?.server.shutdown()
            throw error
        }
        await second?.server.shutdown()
    }

    @Test func anAckAwaitedWhileTheServerIsDownArrivesOnceItIsBack() async throws {
        let first = try await Self.startEchoServer(port: 0, tag: "first")
        let port = first.port
        await first.server.shutdown()
        var configuration = SocketClientConfiguration()
        // WebSocket: a refused connection fails at once (a polling GET is retried by the HTTP
        // client's pool until `connectTimeout`).
        configuration.transports = .webSocketOnly
        configuration.backoff = ReconnectBackoff(initial: .milliseconds(200), maximum: .seconds(1))
        let manager = try SocketManager(url: "http://127.0.0.1:\(port)", configuration: configuration, logger: Self.logger)
        let socket = manager.socket()
        let attempts = AsyncInbox<Int>(eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        manager.onReconnectAttempt { attempt in attempts.eventLoop.execute { attempts.push(attempt) } }
        var second: (server: SocketServer, port: Int)?
        do {
            try await Self.running([manager]) {
                // The emit waits in the socket's buffer; its ack must wait with it, across the
                // failed attempts, as the JS client's does (`_clearAcks` keeps buffered packets).
                async let reply = socket.emitWithAck("echo", "buffered", timeout: .seconds(15))
                #expect(try await attempts.next(timeout: .seconds(10)) == 1)
                second = try await Self.startEchoServer(port: port, tag: "second")
                #expect(try await reply.decode(String.self, at: 0) == "second:buffered")
            }
        } catch {
            await second?.server.shutdown()
            throw error
        }
        await second?.server.shutdown()
    }

    // MARK: Helpers

    static let logger: Logger = {
        var logger = Logger(label: "test.hostile")
        logger.logLevel = ProcessInfo.processInfo.environment["PARLEY_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }()

    /// A server on 127.0.0.1:`port` whose `echo` acknowledges `"<tag>:<argument>"`.
    static func startEchoServer(port: Int, tag: String) async throws -> (server: SocketServer, port: Int) {
        var configuration = SocketServerConfiguration()
        configuration.engine.address = .hostname("127.0.0.1", port: port)
        let server = SocketServer(configuration: configuration)
        server.onConnection { socket in
            socket.on("echo") { event in try event.ack("\(tag):" + (try event.argument(0, as: String.self))) }
        }
        let address = try await server.start()
        return (server, try #require(address.port))
    }

    /// Runs `body` with the port of a started echo server, and shuts the server down after.
    static func withEchoServer(tag: String, _ body: (Int) async throws -> Void) async throws {
        let (server, port) = try await startEchoServer(port: 0, tag: tag)
        do {
            try await body(port)
        } catch {
            await server.shutdown()
            throw error
        }
        await server.shutdown()
    }

    /// Runs `body` while `managers` run; then disconnects them and waits for them to stop.
    static func running(_ managers: [SocketManager], _ body: () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for manager in managers {
                group.addTask { try await manager.run() }
            }
            do {
                try await body()
            } catch {
                group.cancelAll()
                throw error
            }
            for manager in managers { await manager.disconnect() }
            // Cancellation also stops a manager that is between two reconnection attempts.
            group.cancelAll()
            try await group.waitForAll()
        }
    }
}

/// A TCP proxy on loopback in front of a server. It relays HTTP untouched, but on a connection
/// whose first request asks for a WebSocket upgrade it relays the request head and the `101`
/// response head, then relays nothing more in either direction while keeping both sockets
/// open: the proxy that accepts the upgrade and then stalls.
struct StallingUpgradeProxy: Sendable {
    enum Event: Sendable, Equatable {
        /// A WebSocket upgrade went through, and the connection is now stalled.
        case upgradeStalled
        /// The client closed a stalled connection (it gave up on it).
        case stalledConnectionClosedByClient
    }

    typealias Connection = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    /// The port the proxy listens on.
    let port: Int
    /// What the proxy did, in order.
    let events: AsyncInbox<Event>

    /// Runs `body` with a proxy to 127.0.0.1:`upstreamPort`, and closes it and every relayed
    /// connection after.
    static func run(upstreamPort: Int, _ body: (StallingUpgradeProxy) async throws -> Void) async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture { try Connection(wrappingChannelSynchronously: channel) }
            }
        let proxy = StallingUpgradeProxy(port: try #require(listener.channel.localAddress?.port), events: AsyncInbox(eventLoop: group.next()))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                try await listener.executeThenClose { inbound in
                    try await withThrowingDiscardingTaskGroup { connections in
                        for try await connection in inbound {
                            // Best effort: a relay that fails just closes its connection.
                            connections.addTask { try? await proxy.relay(connection, to: upstreamPort) }
                        }
                    }
                }
            }
            defer { tasks.cancelAll() }
            try await body(proxy)
        }
    }

    private func relay(_ client: Connection, to upstreamPort: Int) async throws {
        let isWebSocket = NIOLockedValueBox(false)
        let events = self.events
        try await client.executeThenClose { clientIn, clientOut in
            let upstream = try await ClientBootstrap(group: client.channel.eventLoop)
                .connect(host: "127.0.0.1", port: upstreamPort) { channel in
                    channel.eventLoop.makeCompletedFuture { try Connection(wrappingChannelSynchronously: channel) }
                }
            try await upstream.executeThenClose { upstreamIn, upstreamOut in
                try await withThrowingTaskGroup(of: Void.self) { directions in
                    directions.addTask {
                        var head = ByteBuffer()
                        var decided = false
                        var stalled = false
                        for try await chunk in clientIn {
                            if stalled { continue }
                            if decided {
                                try await upstreamOut.write(chunk)
                                continue
                            }
                            head.writeImmutableBuffer(chunk)
                            guard let length = Self.headLength(head) else { continue }
                            let text = head.getString(at: head.readerIndex, length: length) ?? ""
                            if text.lowercased().contains("upgrade: websocket") {
                                // Set before the request goes out, so the response side sees it.
                                isWebSocket.withLockedValue { $0 = true }
                                try await upstreamOut.write(head.readSlice(length: length)!)
                                stalled = true
                                events.eventLoop.execute { events.push(.upgradeStalled) }
                            } else {
                                decided = true
                                try await upstreamOut.write(head)
                            }
                        }
                        if stalled, !Task.isCancelled {
                            events.eventLoop.execute { events.push(.stalledConnectionClosedByClient) }
                        }
                    }
                    directions.addTask {
                        var head = ByteBuffer()
                        var relayedHead = false
                        for try await chunk in upstreamIn {
                            guard isWebSocket.withLockedValue({ $0 }) else {
                                try await clientOut.write(chunk)
                                continue
                            }
                            // The 101 head goes through; the frames after it (the open packet) do not.
                            if relayedHead { continue }
                            head.writeImmutableBuffer(chunk)
                            guard let length = Self.headLength(head) else { continue }
                            try await clientOut.write(head.readSlice(length: length)!)
                            relayedHead = true
                        }
                    }
                    // One side closed: close both.
                    try await directions.next()
                    directions.cancelAll()
                }
            }
        }
    }

    /// The length of the HTTP head at the start of `buffer`, through its blank line.
    private static func headLength(_ buffer: ByteBuffer) -> Int? {
        let bytes = buffer.readableBytesView
        guard bytes.count >= 4 else { return nil }
        var index = bytes.startIndex
        while index + 3 < bytes.endIndex {
            if bytes[index] == 13, bytes[index + 1] == 10, bytes[index + 2] == 13, bytes[index + 3] == 10 {
                return index + 4 - bytes.startIndex
            }
            index += 1
        }
        return nil
    }
}
