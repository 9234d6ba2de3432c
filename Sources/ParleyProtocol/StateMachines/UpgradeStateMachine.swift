public import NIOCore

/// The server side of the polling → WebSocket upgrade, without I/O or clocks.
///
/// A probe WebSocket attaches, the client sends `2probe`, the server answers `3probe` and
/// releases any pending poll with `noop`, and the client's `5` switches the session. Until then
/// packets queued for the client wait, so order is preserved across the switch.
/// See `Protocol/engine.md` § Upgrade.
public struct UpgradeStateMachine: Sendable {
    /// What the driver must do next.
    public enum Action: Sendable, Hashable {
        /// Keep the new WebSocket as the probe and arm the timer for the upgrade deadline.
        case acceptProbe(wakeAt: NIODeadline)
        /// Close the new WebSocket at once: the session already upgraded or is upgrading.
        case rejectProbe
        /// Answer `3probe` on the probe and release a pending poll with `noop`.
        case answerProbe
        /// Make the probe the session's transport and flush queued packets over it.
        case switchTransport
        /// Close the probe; the session stays on polling.
        case abandonProbe
        /// Nothing to do.
        case doNothing
    }

    private enum State: Sendable, Hashable {
        case polling
        case probeAttached(deadline: NIODeadline)
        case probed(deadline: NIODeadline)
        case upgraded
    }

    private let timeout: TimeAmount
    private var state: State = .polling

    /// Creates the state machine for a session that starts on polling.
    public init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    /// The instant at which an unfinished upgrade is abandoned, if one is in progress.
    public var deadline: NIODeadline? {
        switch state {
        case .probeAttached(let deadline), .probed(let deadline): deadline
        case .polling, .upgraded: nil
        }
    }

    /// Whether the probe was answered: polls must then be released with `noop` at once and
    /// queued packets kept for the WebSocket.
    public var isDraining: Bool {
        if case .probed = state { return true }
        return false
    }

    /// Whether the session has switched to the WebSocket.
    public var isUpgraded: Bool {
        state == .upgraded
    }

    /// A WebSocket carrying this session's id finished its handshake.
    public mutating func probeOpened(now: NIODeadline) -> Action {
        guard case .polling = state else { return .rejectProbe }
        let deadline = now + timeout
        state = .probeAttached(deadline: deadline)
        return .acceptProbe(wakeAt: deadline)
    }

    /// The probe carried `2probe`.
    public mutating func probePingReceived() -> Action {
        switch state {
        case .probeAttached(let deadline):
            state = .probed(deadline: deadline)
            return .answerProbe
        case .probed:
            state = .polling
            return .abandonProbe
        case .polling, .upgraded:
            return .doNothing
        }
    }

    /// The probe carried `5`.
    public mutating func upgradeReceived() -> Action {
        switch state {
        case .probed:
            state = .upgraded
            return .switchTransport
        case .probeAttached:
            state = .polling
            return .abandonProbe
        case .polling, .upgraded:
            return .doNothing
        }
    }

    /// The probe carried anything else, failed, or closed before the switch.
    public mutating func probeFailed() -> Action {
        switch state {
        case .probeAttached, .probed:
            state = .polling
            return .abandonProbe
        case .polling, .upgraded:
            return .doNothing
        }
    }

    /// The session timer fired.
    public mutating func timerFired(now: NIODeadline) -> Action {
        guard let deadline, now >= deadline else { return .doNothing }
        state = .polling
        return .abandonProbe
    }
}
