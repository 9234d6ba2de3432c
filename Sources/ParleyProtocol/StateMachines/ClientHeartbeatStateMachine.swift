public import NIOCore

/// The client side of the Engine.IO v4 heartbeat, without I/O or clocks: the server pings, the
/// client answers, and a client that hears no ping for `pingInterval + pingTimeout` declares
/// the connection dead (`ping timeout`). See `Protocol/engine.md` § Heartbeat.
public struct ClientHeartbeatStateMachine: Sendable {
    /// What the driver must do next.
    public enum Action: Sendable, Hashable {
        /// Answer the ping with a pong and re-arm the watchdog for this instant.
        case sendPong(wakeAt: NIODeadline)
        /// Arm the watchdog for this instant.
        case wake(at: NIODeadline)
        /// No ping came in time: close the connection with `ping timeout`.
        case close
        /// Nothing to do.
        case doNothing
    }

    private let allowance: TimeAmount
    private var deadline: NIODeadline?

    /// Creates the watchdog from the handshake's advertised values.
    public init(pingInterval: TimeAmount, pingTimeout: TimeAmount) {
        // Saturating: the values come from the peer.
        let (sum, overflow) = pingInterval.nanoseconds.addingReportingOverflow(pingTimeout.nanoseconds)
        self.allowance = .nanoseconds(overflow ? .max : sum)
    }

    /// `now + allowance`, saturating at the far future instead of trapping.
    private func watchdogDeadline(after now: NIODeadline) -> NIODeadline {
        let (sum, overflow) = now.uptimeNanoseconds.addingReportingOverflow(UInt64(max(0, allowance.nanoseconds)))
        return overflow ? .distantFuture : .uptimeNanoseconds(sum)
    }

    /// The instant the watchdog fires, if armed.
    public var nextDeadline: NIODeadline? { deadline }

    /// The handshake arrived.
    public mutating func opened(now: NIODeadline) -> Action {
        deadline = watchdogDeadline(after: now)
        return .wake(at: deadline!)
    }

    /// The server pinged.
    public mutating func pingReceived(now: NIODeadline) -> Action {
        guard deadline != nil else { return .doNothing }
        deadline = watchdogDeadline(after: now)
        return .sendPong(wakeAt: deadline!)
    }

    /// The watchdog fired (possibly early).
    public mutating func timerFired(now: NIODeadline) -> Action {
        guard let deadline else { return .doNothing }
        guard now >= deadline else { return .wake(at: deadline) }
        self.deadline = nil
        return .close
    }

    /// The connection closed.
    public mutating func closed() {
        deadline = nil
    }
}
