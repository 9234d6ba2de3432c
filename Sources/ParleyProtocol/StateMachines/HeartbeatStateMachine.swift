public import NIOCore

/// The server side of the Engine.IO v4 heartbeat, without I/O or clocks.
///
/// After the session opens the server waits `interval`, sends a ping and expects a pong within
/// `timeout`; a pong arms the next ping `interval` later. The driver passes `now` in and runs the
/// returned action. See `Protocol/engine.md` § Heartbeat.
public struct HeartbeatStateMachine: Sendable {
    /// What the driver must do next.
    public enum Action: Sendable, Hashable {
        /// Arm the session timer for this instant.
        case wake(at: NIODeadline)
        /// Send a ping now and arm the timer for the pong deadline.
        case sendPing(wakeAt: NIODeadline)
        /// No pong arrived in time: close the session with `ping timeout`.
        case close
        /// Nothing to do.
        case doNothing
    }

    private enum State: Sendable, Hashable {
        case notStarted
        case waitingToPing(NIODeadline)
        case waitingForPong(NIODeadline)
        case stopped
    }

    private let interval: TimeAmount
    private let timeout: TimeAmount
    private var state: State = .notStarted

    /// Creates a heartbeat with the advertised interval and timeout.
    public init(interval: TimeAmount, timeout: TimeAmount) {
        self.interval = interval
        self.timeout = timeout
    }

    /// The instant at which ``timerFired(now:)`` has something to do, if any.
    public var deadline: NIODeadline? {
        switch state {
        case .waitingToPing(let deadline), .waitingForPong(let deadline): deadline
        case .notStarted, .stopped: nil
        }
    }

    /// The session's handshake went out.
    public mutating func sessionOpened(now: NIODeadline) -> Action {
        guard case .notStarted = state else { return .doNothing }
        let deadline = now + interval
        state = .waitingToPing(deadline)
        return .wake(at: deadline)
    }

    /// The session timer fired (possibly early, or for another state machine's deadline).
    public mutating func timerFired(now: NIODeadline) -> Action {
        switch state {
        case .waitingToPing(let deadline):
            guard now >= deadline else { return .doNothing }
            let pongDeadline = now + timeout
            state = .waitingForPong(pongDeadline)
            return .sendPing(wakeAt: pongDeadline)
        case .waitingForPong(let deadline):
            guard now >= deadline else { return .doNothing }
            state = .stopped
            return .close
        case .notStarted, .stopped:
            return .doNothing
        }
    }

    /// A pong arrived from the client.
    ///
    /// A pong nobody asked for is ignored rather than treated as an error: it is harmless and
    /// can race with a ping written just before a transport switch.
    public mutating func pongReceived(now: NIODeadline) -> Action {
        guard case .waitingForPong = state else { return .doNothing }
        let deadline = now + interval
        state = .waitingToPing(deadline)
        return .wake(at: deadline)
    }

    /// The session closed; no further actions.
    public mutating func sessionClosed() {
        state = .stopped
    }
}
