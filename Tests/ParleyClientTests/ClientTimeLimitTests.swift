import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Parley
import ParleyClient
import ParleyProtocol
import ParleyTesting
import Testing

/// The Swift client's clocks, live on loopback: ack timeouts and retries, the reconnection
/// attempt limit, and the heartbeat watchdog against a server that stops pinging.
@Suite("Client time limits (live)")
struct ClientTimeLimitTests {
    @Test func anAckThatNeverComesFailsAfterTheConfiguredTimeout() async throws {
        let deliveries = NIOLockedValueBox(0)
        let (server, port) = try await ClientBehaviourTests.server { server in
            server.onConnection { socket in
                socket.on("ignored") { _ in deliveries.withLockedValue { $0 += 1 } }  // never acknowledges
            }
        }
        defer { Task { await server.shutdown() } }
        let manager = try ClientBehaviourTests.manager(port: port) { $0.ackTimeout = .milliseconds(700) }
        let socket = manager.socket()
        try await ClientBehaviourTests.running(manager) {
            // Connected first, so the time measured is the ack's alone.
            try await ClientBehaviourTests.eventually { socket.isConnected }
            for (timeout, expected) in [(Duration?.none, Duration.milliseconds(700)), (.milliseconds(300), .milliseconds(300))] {
                let start = ContinuousClock.now
                await #expect(throws: ClientAckTimeoutError.self) {
                    _ = try await socket.emitWithAck("ignored", "x", timeout: timeout)
                }
                let elapsed = ContinuousClock.now - start
                #expect(elapsed >= expected, "timed out after \(elapsed), timeout \(expected)")
                #expect(elapsed < expected + .milliseconds(400), "timed out after \(elapsed), timeout \(expected)")
            }
            #expect(deliveries.withLockedValue { $0 } == 2)
            #expect(socket.isConnected)
        }
    }

    @Test func retriesSendTheEventAgainUntilAnAckComes() async throws {
        let deliveries = NIOLockedValueBox<[String]>([])
        let (server, port) = try await ClientBehaviourTests.server { server in
            server.onConnection { socket in
                // Acknowledges only the second delivery of each event.
                socket.on("flaky") { event in
                    let name = try event.argument(0, as: String.self)
                    let count = deliveries.withLockedValue { all in
                        all.append(name)
                        return all.count(where: { $0 == name })
                    }
                    if count == 2 { try event.ack("\(name) on delivery \(count)") }
                }
            }
        }
        defer { Task { await server.shutdown() } }
        let manager = try ClientBehaviourTests.manager(port: port) { $0.retries = 1 }
        let socket = manager.socket()
        try await ClientBehaviourTests.running(manager) {
            try await ClientBehaviourTests.eventually { socket.isConnected }
            let start = ContinuousClock.now
            let reply = try await socket.emitWithAck("flaky", "a", timeout: .milliseconds(400), retries: 3)
            let elapsed = ContinuousClock.now - start
            #expect(try reply.decode(String.self, at: 0) == "a on delivery 2")
            // One timeout, then the second try's round trip.
            #expect(elapsed >= .milliseconds(400) && elapsed < .milliseconds(800), "acknowledged after \(elapsed)")

            // The configuration's `retries` (1) when the call names none: two tries, enough here.
            #expect(try await socket.emitWithAck("flaky", "b", timeout: .milliseconds(400)).decode(String.self, at: 0) == "b on delivery 2")
            // No retries: the one delivery is not acknowledged.
            await #expect(throws: ClientAckTimeoutError.self) {
                _ = try await socket.emitWithAck("flaky", "c", timeout: .milliseconds(400), retries: 0)
            }
            // Not a synchronisation: a retry after success would have arrived by now.
            try await Task.sleep(for: .milliseconds(600))
            #expect(deliveries.withLockedValue { $0 } == ["a", "a", "b", "b", "c"])
        }
    }

    @Test func reconnectionGivesUpAfterTheAttemptLimitAndSaysSoOnce() async throws {
        // A handler creates the main namespace (a server without one refuses `/`).
        let (server, port) = try await ClientBehaviourTests.server { server in server.onConnection { _ in } }
        var configuration = SocketClientConfiguration()
        // WebSocket: a refused connection fails at once (see HostileNetworkTests).
        configuration.transports = .webSocketOnly
        configuration.backoff = ReconnectBackoff(initial: .milliseconds(100), maximum: .milliseconds(100), randomization: 0, maximumAttempts: 3)
        let manager = try SocketManager(url: "http://127.0.0.1:\(port)", configuration: configuration, logger: HostileNetworkTests.logger)
        let socket = manager.socket()
        let attempts = NIOLockedValueBox<[Int]>([])
        let failures = NIOLockedValueBox<[[Int]]>([])  // the attempts made when it fired
        manager.onReconnectAttempt { attempt in attempts.withLockedValue { $0.append(attempt) } }
        manager.onReconnectFailed { failures.withLockedValue { $0.append(attempts.withLockedValue { $0 }) } }
        let returned = AsyncInbox<ContinuousClock.Instant>(eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await manager.run()
                returned.eventLoop.execute { returned.push(.now) }
            }
            try await ClientBehaviourTests.eventually { socket.isConnected }
            await server.shutdown()  // gone for good: every attempt is refused
            let goneAt = ContinuousClock.now
            // `run()` returns by itself once it gave up.
            let returnedAt = try #require(try await returned.next(timeout: .seconds(10)))
            #expect(attempts.withLockedValue { $0 } == [1, 2, 3])
            #expect(failures.withLockedValue { $0 } == [[1, 2, 3]])
            // Three delays of 100 ms; refusals are immediate.
            let took = returnedAt - goneAt
            #expect(took >= .milliseconds(300) && took < .seconds(3), "gave up after \(took)")
            #expect(!socket.isConnected)
            try await group.waitForAll()
        }
    }

    /// The watchdog armed at the handshake must fire `pingInterval + pingTimeout` after it,
    /// whatever `connectTimeout` is.
    @Test func aServerThatStopsPingingIsDeclaredDeadAfterPingIntervalPlusPingTimeout() async throws {
        let silence = try await Self.silenceBeforePingTimeout(connectTimeout: .seconds(5))
        #expect(silence >= .milliseconds(400), "declared dead after \(silence)")
        #expect(silence < .milliseconds(900), "declared dead after \(silence)")
    }

    /// The same, with a `connectTimeout` shorter than the heartbeat, so the watchdog is awake
    /// when the heartbeat deadline comes: the deadline itself is `pingInterval + pingTimeout`.
    @Test func aServerThatStopsPingingIsDeclaredDeadAtTheHeartbeatDeadlineNotBefore() async throws {
        let silence = try await Self.silenceBeforePingTimeout(connectTimeout: .milliseconds(200))
        #expect(silence >= .milliseconds(400), "declared dead after \(silence)")
        #expect(silence < .milliseconds(900), "declared dead after \(silence)")
    }

    /// Connects a polling client to a server that opens a session advertising a 250 + 150 ms
    /// heartbeat, lets the socket join `/`, and then never sends anything again. Returns the
    /// time from the open packet to the client's `ping timeout`.
    static func silenceBeforePingTimeout(connectTimeout: Duration) async throws -> Duration {
        let opened = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
        let joined = NIOLockedValueBox(false)
        let server = try await ScriptedHTTPServer.start { request in
            switch (request.head.method, request.query("sid")) {
            case (.GET, nil):
                opened.withLockedValue { $0 = .now }
                return .respond(.ok, body: #"0{"sid":"scripted-session","upgrades":[],"pingInterval":250,"pingTimeout":150,"maxPayload":1000000}"#)
            case (.POST, _):
                return .respond(.ok, body: "ok")
            case (.GET, _):
                // The first poll carries the CONNECT reply; every later one is held, unanswered.
                let first = joined.withLockedValue { joined in
                    defer { joined = true }
                    return !joined
                }
                return first ? .respond(.ok, body: #"40{"sid":"scripted-socket"}"#) : .hold
            default:
                return .respond(.badRequest, body: "")
            }
        }
        defer { Task { await server.stop() } }
        var configuration = SocketClientConfiguration()
        configuration.transports = .pollingOnly
        configuration.reconnection = false
        configuration.connectTimeout = connectTimeout
        let manager = try SocketManager(url: "http://127.0.0.1:\(server.port)", configuration: configuration, logger: HostileNetworkTests.logger)
        let socket = manager.socket()
        let ended = AsyncInbox<(ClientCloseReason, ContinuousClock.Instant)>(eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        let connects = NIOLockedValueBox(0)
        socket.onConnect { connects.withLockedValue { $0 += 1 } }
        socket.onDisconnect { reason in ended.eventLoop.execute { ended.push((reason, .now)) } }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await manager.run() }
            defer { group.cancelAll() }
            let (reason, at) = try #require(try await ended.next(timeout: .seconds(8)))
            let openedAt = try #require(opened.withLockedValue { $0 })
            #expect(connects.withLockedValue { $0 } == 1)
            #expect(reason.code == .pingTimeout, "\(reason)")
            // With reconnection off, the manager stops by itself.
            try await group.waitForAll()
            return at - openedAt
        }
    }
}
