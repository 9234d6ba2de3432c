import Synchronization

/// What the soak clients of one event loop did, counted as they go.
struct SoakTally: Sendable {
    /// Distinct error texts kept; later ones are counted under `otherErrors`.
    static let maxErrorKinds = 32

    /// Clients started.
    var opened: UInt64 = 0
    /// Clients whose session ended, whatever the way.
    var ended: UInt64 = 0
    /// Opens skipped because `--clients` clients were live.
    var deferred: UInt64 = 0
    /// Sessions moved from polling to WebSocket.
    var upgraded: UInt64 = 0
    /// Socket.IO events sent (echo, join, broadcast; all asking for an ack).
    var emits: UInt64 = 0
    /// Acks received.
    var acks: UInt64 = 0
    /// `msg` broadcasts received.
    var deliveries: UInt64 = 0
    /// Leaves begun, per path (`SoakLeave.allCases` order).
    var leavesBegun = [UInt64](repeating: 0, count: SoakLeave.allCases.count)
    /// Leaves that ended as the path requires, per transport and path.
    var left = [UInt64](repeating: 0, count: BenchTransport.allCases.count * SoakLeave.allCases.count)
    /// Unexpected events, by description.
    var errors: [String: UInt64] = [:]
    var otherErrors: UInt64 = 0
    /// For `ping_timeout` leaves: seconds from the first unanswered ping to the server's close.
    var pingTimeoutCloseDelay: ClosedRange<Double>?
    /// The largest pingInterval + pingTimeout a handshake announced.
    var heartbeatNanos: UInt64 = 0

    var live: UInt64 { opened - min(opened, ended) }
    var messages: UInt64 { emits + acks + deliveries }
    var errorCount: UInt64 { errors.values.reduce(otherErrors, +) }

    static func leftIndex(_ transport: BenchTransport, _ leave: SoakLeave) -> Int {
        BenchTransport.allCases.firstIndex(of: transport)! * SoakLeave.allCases.count + SoakLeave.allCases.firstIndex(of: leave)!
    }

    func left(_ transport: BenchTransport, _ leave: SoakLeave) -> UInt64 { left[Self.leftIndex(transport, leave)] }

    mutating func recordLeft(_ transport: BenchTransport, _ leave: SoakLeave) { left[Self.leftIndex(transport, leave)] += 1 }

    mutating func recordError(_ text: String, count: UInt64 = 1) {
        if errors[text] != nil || errors.count < Self.maxErrorKinds {
            errors[text, default: 0] += count
        } else {
            otherErrors += count
        }
    }

    mutating func recordPingTimeoutClose(afterSeconds delay: Double) {
        pingTimeoutCloseDelay = pingTimeoutCloseDelay.map { min($0.lowerBound, delay)...max($0.upperBound, delay) } ?? delay...delay
    }

    mutating func merge(_ other: SoakTally) {
        opened += other.opened
        ended += other.ended
        deferred += other.deferred
        upgraded += other.upgraded
        emits += other.emits
        acks += other.acks
        deliveries += other.deliveries
        for index in leavesBegun.indices { leavesBegun[index] += other.leavesBegun[index] }
        for index in left.indices { left[index] += other.left[index] }
        for (text, count) in other.errors { recordError(text, count: count) }
        otherErrors += other.otherErrors
        if let range = other.pingTimeoutCloseDelay {
            recordPingTimeoutClose(afterSeconds: range.lowerBound)
            recordPingTimeoutClose(afterSeconds: range.upperBound)
        }
        heartbeatNanos = max(heartbeatNanos, other.heartbeatNanos)
    }
}

/// One loop's tally behind its own lock: written by that loop's clients, read by the sampler.
final class SoakTallyBox: Sendable {
    let state = Mutex(SoakTally())

    /// All boxes merged.
    static func total(_ boxes: [SoakTallyBox]) -> SoakTally {
        var total = SoakTally()
        for box in boxes {
            let copy = box.state.withLock { $0 }
            total.merge(copy)
        }
        return total
    }
}
