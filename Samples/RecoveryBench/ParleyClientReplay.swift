import Logging
import Parley
import ParleyClient
import ParleyProtocol
import ParleyTesting
import Synchronization

/// The replay measured with `ParleyClient`: the client reconnects every millisecond through a
/// proxy that refuses it; the clock starts when the proxy lets it through again and stops in
/// the `connect` handler once every missed message reached the `msg` handler. This includes
/// the TCP and WebSocket handshakes, the Engine.IO open, up to 1 ms of backoff, and the
/// client's own decoding and dispatch of each packet.
struct ParleyClientReplay {
    let server: SocketServer
    let port: Int
    let messages: Int
    let payload: String

    func measure(repetitions: Int) async throws -> [Double] {
        let proxy = try await TCPProxy.start(upstreamPort: port)
        var configuration = SocketClientConfiguration()
        configuration.transports = .webSocketOnly
        configuration.backoff = ReconnectBackoff(initial: .milliseconds(1), maximum: .milliseconds(1), randomization: 0)
        // The replay comes before the CONNECT reply; the client keeps such early events in a
        // buffer bounded by `maxBufferedEmits` and drops what does not fit.
        configuration.maxBufferedEmits = max(1_000, messages * 2)
        var logger = Logger(label: "recovery-bench.client")
        logger.logLevel = .critical
        let manager = try SocketManager(url: "http://127.0.0.1:\(proxy.port)", configuration: configuration, logger: logger)
        let socket = manager.socket()
        let progress = ReplayProgress()
        socket.on("msg") { _ in progress.messageReceived() }
        socket.onConnect { progress.connected(recovered: socket.recovered) }

        var samples: [Double] = []
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await manager.run() }
            let server = self.server
            guard await eventually(timeout: .seconds(10), { progress.isConnected && server.of("/").sockets.count == 1 }) else {
                throw BenchFailure("the client did not connect")
            }
            // The first offset.
            progress.expect(messages: 1)
            try server.to("r").emit("msg", payload)
            guard await eventually(timeout: .seconds(5), { progress.doneAt != nil }) else { throw BenchFailure("no first message") }

            for _ in 0..<repetitions {
                progress.expect(messages: messages, connect: true)
                proxy.setRefusing(true)
                await proxy.cutAll()
                guard await eventually(timeout: .seconds(5), { server.of("/").sockets.isEmpty }) else {
                    throw BenchFailure("the server did not see the connection end")
                }
                for _ in 0..<messages { try server.to("r").emit("msg", payload) }
                try await server.flushRecoveryLog()
                let start = ContinuousClock.now
                proxy.setRefusing(false)
                guard await eventually(timeout: .seconds(60), { progress.doneAt != nil }), let doneAt = progress.doneAt else {
                    throw BenchFailure("no recovery within 60 s: \(progress.received) of \(messages) messages, connected: \(progress.isConnected)")
                }
                guard progress.lastConnectRecovered, progress.received == messages else {
                    throw BenchFailure("recovered: \(progress.lastConnectRecovered), \(progress.received) of \(messages) messages")
                }
                samples.append((doneAt - start).inMilliseconds)
            }
            await manager.disconnect()
            try await group.waitForAll()
        }
        await proxy.stop()
        return samples
    }
}

/// What the client received since ``expect(messages:connect:)``, and when it was complete.
final class ReplayProgress: Sendable {
    private struct State {
        var expected = 0
        var needsConnect = false
        var received = 0
        var connected = false
        var lastConnectRecovered = false
        var doneAt: ContinuousClock.Instant?

        mutating func check() {
            if doneAt == nil, received >= expected, !needsConnect || connected { doneAt = .now }
        }
    }

    private let state = Mutex(State())

    var doneAt: ContinuousClock.Instant? { state.withLock { $0.doneAt } }
    var received: Int { state.withLock { $0.received } }
    var isConnected: Bool { state.withLock { $0.connected } }
    var lastConnectRecovered: Bool { state.withLock { $0.lastConnectRecovered } }

    /// Starts counting again: done after `messages` messages (and a connect, if `connect`).
    func expect(messages: Int, connect: Bool = false) {
        state.withLock { $0 = State(expected: messages, needsConnect: connect) }
    }

    func messageReceived() {
        state.withLock { state in
            state.received += 1
            state.check()
        }
    }

    func connected(recovered: Bool) {
        state.withLock { state in
            state.connected = true
            state.lastConnectRecovered = recovered
            state.check()
        }
    }
}
