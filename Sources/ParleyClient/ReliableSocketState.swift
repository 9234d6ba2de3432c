import NIOCore
import ParleyProtocol

/// The reliable-delivery part of a client socket's state, under the socket's lock.
struct ReliableSocketState: Sendable {
    var outbox: OutboxStateMachine
    /// Outbox packets to send, in order; one thread at a time sends them (``sending``), so
    /// that packets handed out by two threads never overtake each other on the wire.
    var queue: [SocketPacket] = []
    var sending = false
    /// The timer armed for the outbox, and its instant.
    var timer: (at: ContinuousClock.Instant, scheduled: Scheduled<Void>)?
    /// Room offsets known in this run (read from the store or set since), by room.
    var roomPositions: [String: String] = [:]
    /// Messages with an id already passed on, dropped as repeats.
    var repeatsDropped = 0

    init(outbox: OutboxStateMachine) {
        self.outbox = outbox
    }

    /// Queues the packets of `output`.
    ///
    /// - Returns: the instant to arm the outbox timer for, when it is earlier than the one armed.
    mutating func apply(_ output: OutboxStateMachine.Output) -> ContinuousClock.Instant? {
        queue.append(contentsOf: output.packets)
        guard let wakeAt = output.wakeAt else { return nil }
        if let timer, timer.at <= wakeAt { return nil }
        return wakeAt
    }
}
