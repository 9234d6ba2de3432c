import NIOCore
import ParleyProtocol
import Synchronization

/// One client of the soak scenario, loop-confined: connects, joins a room, talks for its life
/// (echo, broadcast to its room, join another room, each with an ack), then leaves by its
/// planned path and checks the server ends the session the way that path requires.
final class SoakClient: BenchSocket {
    struct Plan {
        var transport: BenchTransport
        var leave: SoakLeave
        var lifeNanos: UInt64
        var room: Int
    }

    private enum Phase {
        case connecting
        /// The join of the first room is sent; waits for its ack (and the upgrade).
        case joining
        case active(until: UInt64)
        case leaving(since: UInt64)
    }

    private let plan: Plan
    private let settings: SoakSettings
    private let tally: SoakTallyBox
    private let driver: SoakLoop
    private var phase = Phase.connecting
    private var random: XorshiftGenerator
    private var room: Int
    private var isJoined = false
    private var isUpgradePending: Bool
    /// The leave path's outcome is settled (an error was recorded): the end counts as no leave.
    private var isLeaveSettled = false
    private var pingIntervalNanos: UInt64 = 25_000_000_000
    private var pingTimeoutNanos: UInt64 = 20_000_000_000
    private var firstUnansweredPing: UInt64?
    private var nextAckID: UInt64 = 0
    /// Ack id → when the event was sent.
    private var pendingAcks: [UInt64: UInt64] = [:]
    private var actionTimer: Scheduled<Void>?
    private var leaveTimer: Scheduled<Void>?

    init(loop: any EventLoop, shard: StatsShardBox, startedAt: UInt64, plan: Plan, settings: SoakSettings,
         tally: SoakTallyBox, driver: SoakLoop, seed: UInt64) {
        self.plan = plan
        self.settings = settings
        self.tally = tally
        self.driver = driver
        self.room = plan.room
        self.random = XorshiftGenerator(seed: seed)
        self.isUpgradePending = plan.transport == .upgrade
        super.init(loop: loop, shard: shard, startedAt: startedAt)
    }

    private var name: String { "\(plan.leave.rawValue) over \(plan.transport.rawValue)" }

    /// The soak is over: an active client leaves now (one still connecting leaves once ready).
    func leaveNow() {
        if case .active = phase { beginLeave() }
    }

    /// The drain is over and this client is still here: close it and count the error.
    func abandon() {
        settle("\(name): still open at the end of the drain (\(phaseText))")
        close(.abandon)
    }

    // MARK: BenchSocket hooks

    override func engineOpened(handshake: ByteBuffer) {
        if let handshake = try? EngineHandshake(json: handshake) {  // a bad one fails the CONNECT anyway
            pingIntervalNanos = Self.nanoseconds(handshake.pingInterval)
            pingTimeoutNanos = Self.nanoseconds(handshake.pingTimeout)
            let heartbeat = pingIntervalNanos + pingTimeoutNanos
            tally.state.withLock { $0.heartbeatNanos = max($0.heartbeatNanos, heartbeat) }
        }
        super.engineOpened(handshake: handshake)
    }

    override func socketConnected() {
        phase = .joining
        emit(settings.joins[room])
        flush()
    }

    override func engineUpgraded() {
        tally.state.withLock { $0.upgraded += 1 }
        isUpgradePending = false
        becomeActiveIfReady()
    }

    override func engineUpgradeFailed(reason: String) {
        tally.state.withLock { $0.recordError("upgrade failed: \(Self.short(reason))") }
        isUpgradePending = false
        becomeActiveIfReady()
    }

    override func enginePingReceived(answered: Bool) {
        if !answered, firstUnansweredPing == nil { firstUnansweredPing = BenchClock.now() }
    }

    override func packetReceived(_ packet: ByteBuffer) {
        var packet = packet
        switch packet.readInteger(as: UInt8.self) {
        case UInt8(ascii: "3"):
            guard let id = packet.readDecimal(), let sentAt = pendingAcks.removeValue(forKey: id) else { return }
            if case .leaving = phase, plan.leave == .stopReading {
                // Read only after the stall: its delay is the stall's, not the server's.
                shard.state.withLock { $0.completed += 1 }
            } else {
                let now = BenchClock.now()
                shard.state.withLock { $0.recordCompletion(scheduledAt: sentAt, now: now) }
            }
            tally.state.withLock { $0.acks += 1 }
            if id == 0 {
                isJoined = true
                becomeActiveIfReady()
            }
        case UInt8(ascii: "2"):
            tally.state.withLock { $0.deliveries += 1 }  // BenchServer sends only `msg`
        default:
            break
        }
    }

    override func connectionLost(reason: String) {
        if case .leaving = phase, plan.leave.serverCloses { return }  // what this path waits for
        super.connectionLost(reason: reason)  // counts a drop
        settle("\(plan.transport.rawValue): the server ended a session while \(phaseText): \(Self.short(reason))")
    }

    override func sessionEnded(reason: String) {
        actionTimer?.cancel()
        leaveTimer?.cancel()
        let now = BenchClock.now()
        switch phase {
        case .connecting, .joining:
            if !isLeaveSettled {
                tally.state.withLock { $0.recordError("\(plan.transport.rawValue): connect failed: \(Self.short(reason))") }
            }
        case .active:
            break  // connectionLost recorded it
        case .leaving where !isLeaveSettled:
            if plan.leave == .pingTimeout { checkPingTimeoutClose(at: now, reason: reason) }
            if !isLeaveSettled { tally.state.withLock { $0.recordLeft(plan.transport, plan.leave) } }
        case .leaving:
            break
        }
        tally.state.withLock { $0.ended += 1 }
        driver.clientEnded(self)
    }

    // MARK: life

    private func becomeActiveIfReady() {
        guard case .joining = phase, isJoined, !isUpgradePending else { return }
        markReady()
        let now = BenchClock.now()
        phase = .active(until: driver.isEnding ? now : now + plan.lifeNanos)
        scheduleAction()
    }

    private func scheduleAction() {
        let interval = settings.actionIntervalNanos
        let delay = interval / 2 + random.next() % max(1, interval)
        actionTimer = loop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(delay))) { self.act() }
    }

    private func act() {
        let now = BenchClock.now()
        switch phase {
        case .active(let until) where now >= until:
            beginLeave()
            return
        case .active:
            switch random.next() % 10 {
            case 0..<5: emit(settings.echo)
            case 5..<8: emit(settings.broadcasts[room])
            default:
                room = Int(random.next() % UInt64(settings.joins.count))
                emit(settings.joins[room])
            }
        case .leaving where plan.leave == .pingTimeout:
            emit(settings.echo)
        case .connecting, .joining, .leaving:
            return
        }
        flush()
        scheduleAction()
    }

    private func beginLeave() {
        let now = BenchClock.now()
        let stale = pendingAcks.values.filter { now &- $0 > settings.ackTimeoutNanos }.count
        tally.state.withLock {
            if stale > 0 { $0.recordError("\(plan.transport.rawValue): ack not received within \(Self.seconds(settings.ackTimeoutNanos)) s", count: UInt64(stale)) }
            $0.leavesBegun[SoakLeave.allCases.firstIndex(of: plan.leave)!] += 1
        }
        phase = .leaving(since: now)
        actionTimer?.cancel()
        let heartbeat = pingIntervalNanos + pingTimeoutNanos + settings.heartbeatSlackNanos
        switch plan.leave {
        case .clean:
            var disconnect = makePacket(capacity: 1)
            disconnect.writeInteger(UInt8(ascii: "1"))  // Socket.IO DISCONNECT from `/`
            send(disconnect)
            flush()
            close(.goodbye)
            armLeaveTimer(after: settings.goodbyeTimeoutNanos) {
                self.settle("\(self.name): the server did not end the session within \(Self.seconds(self.settings.goodbyeTimeoutNanos)) s of the goodbye")
                self.close(.reset)
            }
        case .reset:
            close(.reset)
        case .stopReading:
            transport?.answersPings = false  // also what it finds unread when it reads again
            transport?.stopReading()
            armLeaveTimer(after: heartbeat) {
                // The server has closed it by now: read again to see the end of the stream.
                self.transport?.resumeReading()
                self.armLeaveTimer(after: self.settings.resumeTimeoutNanos) {
                    self.settle("\(self.name): the session was still open \(Self.seconds(heartbeat + self.settings.resumeTimeoutNanos)) s after the client stopped reading")
                    self.close(.reset)
                }
            }
        case .pingTimeout:
            transport?.answersPings = false
            scheduleAction()  // keeps sending: traffic other than pongs must not keep it alive
            armLeaveTimer(after: heartbeat) {
                self.settle("\(self.name): the session was still open \(Self.seconds(heartbeat)) s after the client stopped answering pings")
                self.close(.reset)
            }
        }
    }

    /// The server closed a `ping_timeout` client: it must have been after an unanswered ping,
    /// and about pingTimeout after it.
    private func checkPingTimeoutClose(at now: UInt64, reason: String) {
        guard let ping = firstUnansweredPing else {
            settle("\(name): the session ended before any ping went unanswered: \(Self.short(reason))")
            return
        }
        let delay = Double(now &- ping) / 1e9
        tally.state.withLock { $0.recordPingTimeoutClose(afterSeconds: delay) }
        if delay < Double(pingTimeoutNanos) / 1e9 - 1 {
            settle("\(name): the session ended less than pingTimeout after the unanswered ping: \(Self.short(reason))")
        }
    }

    private func armLeaveTimer(after nanos: UInt64, _ body: @escaping () -> Void) {
        leaveTimer = loop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(nanos))) { body() }
    }

    /// Records `error` as this client's outcome: its end no longer counts as a leave.
    private func settle(_ error: String) {
        guard !isLeaveSettled else { return }
        isLeaveSettled = true
        tally.state.withLock { $0.recordError(error) }
    }

    private func emit(_ body: ByteBuffer) {
        guard isConnected else { return }
        let id = nextAckID
        nextAckID += 1
        var packet = makePacket(capacity: body.readableBytes + 21)
        packet.writeInteger(UInt8(ascii: "2"))
        packet.writeDecimal(id)
        packet.writeImmutableBuffer(body)
        pendingAcks[id] = BenchClock.now()
        shard.state.withLock { $0.sent += 1 }
        tally.state.withLock { $0.emits += 1 }
        send(packet)
    }

    private var phaseText: String {
        switch phase {
        case .connecting: "connecting"
        case .joining: "joining"
        case .active: "active"
        case .leaving: "leaving by \(plan.leave.rawValue)"
        }
    }

    private static func short(_ reason: String) -> String {
        reason.count > 120 ? String(reason.prefix(120)) + "…" : reason
    }

    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
    }

    private static func seconds(_ nanos: UInt64) -> String {
        String(Double(nanos / 100_000_000) / 10)
    }
}
