import NIOCore
import Synchronization

/// How a client ends its session.
enum EngineCloseManner {
    /// Closes the TCP connection(s) without a word: the server sees the end of the stream.
    case abandon
    /// Says goodbye first: the engine close packet `1` (polling) or a WebSocket close frame, then
    /// waits for the server to end the connection.
    case goodbye
    /// Closes with SO_LINGER 0: the kernel sends RST instead of FIN.
    case reset
}

/// What carries engine packets for one client: a WebSocket, or a pair of long-polling HTTP
/// connections. Loop-confined.
protocol EngineTransport: AnyObject {
    /// Queues one engine text packet (type digit included).
    func send(_ packet: ByteBuffer)
    /// Writes what `send` queued.
    func flush()
    /// Ends the session; the delegate hears `engineClosed` once.
    func close(_ manner: EngineCloseManner)
    /// Whether engine pings are answered (default true); a client that stops answering makes
    /// the server close it for `ping timeout`.
    var answersPings: Bool { get set }
    /// Stops reading the connection(s): pings, messages and even the end of the stream stay
    /// unread in the kernel, as with a stalled peer.
    func stopReading()
    /// Reads again after `stopReading()`.
    func resumeReading()
}

extension EngineTransport {
    func close() { close(.abandon) }
}

/// What a transport reports to the socket above it.
protocol EngineTransportDelegate: AnyObject {
    /// The open packet arrived; `handshake` is its JSON (Protocol/engine.md §3).
    func engineOpened(handshake: ByteBuffer)
    /// A message packet arrived; `message` is its text without the engine type digit.
    func engineMessageReceived(_ message: ByteBuffer)
    /// A ping arrived; `answered` tells whether the transport sent the pong.
    func enginePingReceived(answered: Bool)
    /// The session moved from polling to WebSocket (transport `upgrade` only).
    func engineUpgraded()
    /// The upgrade did not happen; the session goes on over polling.
    func engineUpgradeFailed(reason: String)
    /// The session ended (at most once).
    func engineClosed(reason: String)
}

/// One Socket.IO client of the load generator on namespace `/`, loop-confined.
///
/// It sends the CONNECT packet when the engine session opens and becomes *connected* on the
/// CONNECT reply. Scenarios subclass it: `socketConnected()` decides when the client is
/// *ready* (`markReady()`), `packetReceived(_:)` sees every later socket packet as raw text.
class BenchSocket: EngineTransportDelegate {
    private enum Readiness {
        case pending
        case ready
        case failed
    }

    private enum State {
        case opening
        case awaitingConnectReply
        case connected
        case closed
    }

    let loop: any EventLoop
    let shard: StatsShardBox
    /// When this client was (scheduled to be) started; connect latency counts from here.
    let startedAt: UInt64
    var transport: (any EngineTransport)?
    private var state = State.opening
    private let ready: EventLoopPromise<Void>
    private var readiness = Readiness.pending
    private var closeRequested = false
    private var readyTimeout: Scheduled<Void>?

    init(loop: any EventLoop, shard: StatsShardBox, startedAt: UInt64) {
        self.loop = loop
        self.shard = shard
        self.startedAt = startedAt
        self.ready = loop.makePromise()
    }

    /// Succeeds when the client is ready, fails if it could not get there.
    var readyFuture: EventLoopFuture<Void> { ready.futureResult }

    var isConnected: Bool { state == .connected }

    /// Opens the connection through `target`; must run on `loop`.
    func start(target: BenchTarget, index: Int) {
        let timeout = target.connectTimeout
        readyTimeout = loop.assumeIsolated().scheduleTask(deadline: BenchClock.deadline(startedAt &+ timeout)) {
            self.readyTimeout = nil
            self.fail("timed out after \(Double(timeout) / 1e9) s")
            self.close()
        }
        target.connect(self, index: index)
    }

    // MARK: scenario hooks

    /// The CONNECT reply arrived. The default marks the client ready.
    func socketConnected() { markReady() }

    /// A socket packet after the CONNECT reply, e.g. `3<id>[...]` or `2["msg",...]`.
    func packetReceived(_ packet: ByteBuffer) {}

    /// A ready client's session ended without `close(_:)`. The default counts a drop.
    func connectionLost(reason: String) {
        shard.state.withLock { $0.dropped += 1 }
    }

    /// The session ended, whatever the cause; called last, once. The default does nothing.
    func sessionEnded(reason: String) {}

    // MARK: helpers for scenarios

    /// Counts the client ready and resolves `readyFuture`.
    func markReady() {
        guard readiness == .pending else { return }
        readiness = .ready
        readyTimeout?.cancel()
        readyTimeout = nil
        let now = BenchClock.now()
        shard.state.withLock {
            $0.ready += 1
            $0.lastReadyNanos = max($0.lastReadyNanos, now)
        }
        ready.succeed()
    }

    /// Counts the client failed and fails `readyFuture` (once, and only before it was ready).
    func fail(_ reason: String) {
        guard readiness == .pending else { return }
        readiness = .failed
        readyTimeout?.cancel()
        readyTimeout = nil
        shard.state.withLock {
            $0.failed += 1
            if $0.firstFailure == nil { $0.firstFailure = reason }
        }
        ready.fail(BenchError(reason))
    }

    /// A buffer holding the engine message digit, ready for a socket packet to be appended.
    func makePacket(capacity: Int) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: capacity + 1)
        buffer.writeInteger(UInt8(ascii: "4"))
        return buffer
    }

    func send(_ packet: ByteBuffer) { transport?.send(packet) }

    func flush() { transport?.flush() }

    /// Closes the session on purpose: a later `engineClosed` is not counted as a drop.
    func close(_ manner: EngineCloseManner = .abandon) {
        closeRequested = true
        transport?.close(manner)
    }

    // MARK: EngineTransportDelegate

    func engineOpened(handshake: ByteBuffer) {
        guard state == .opening else { return }
        guard !closeRequested else {
            transport?.close()  // closed while the transport was still connecting
            return
        }
        state = .awaitingConnectReply
        var packet = makePacket(capacity: 1)
        packet.writeInteger(UInt8(ascii: "0"))  // CONNECT to `/`
        send(packet)
        flush()
    }

    func engineMessageReceived(_ message: ByteBuffer) {
        switch state {
        case .connected:
            packetReceived(message)
        case .awaitingConnectReply:
            switch message.firstByte {
            case UInt8(ascii: "0"):
                state = .connected
                socketConnected()
            case UInt8(ascii: "4"):
                fail("CONNECT refused: \(String(buffer: message))")
                close()
            default:
                break  // nothing else is expected before the CONNECT reply
            }
        case .opening, .closed:
            break
        }
    }

    func enginePingReceived(answered: Bool) {}

    func engineUpgraded() {}

    func engineUpgradeFailed(reason: String) {}

    func engineClosed(reason: String) {
        guard state != .closed else { return }
        state = .closed
        transport = nil  // the transport holds us as its delegate: break the cycle
        switch readiness {
        case .pending: fail(reason)
        case .ready where !closeRequested: connectionLost(reason: reason)
        case .ready, .failed: break
        }
        sessionEnded(reason: reason)
    }
}
