import NIOCore

/// The sessions of one event loop that have packets to flush at the end of the current tick.
///
/// A broadcast queues one packet on each of its recipients; rather than one scheduled task per
/// session, the loop runs one task that flushes all of them.
///
/// `@unchecked Sendable`: its state is touched on `eventLoop` only.
final class LoopFlusher: @unchecked Sendable {
    let eventLoop: any EventLoop
    private var pending: [EngineSession] = []
    /// The list being flushed, kept between ticks so that neither list is reallocated.
    private var flushing: [EngineSession] = []
    private var scheduled = false

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Flushes `session` at the end of this tick. Call on ``eventLoop``.
    func schedule(_ session: EngineSession) {
        eventLoop.assertInEventLoop()
        pending.append(session)
        guard !scheduled else { return }
        scheduled = true
        eventLoop.execute { self.run() }
    }

    private func run() {
        scheduled = false
        swap(&pending, &flushing)
        for session in flushing { session.flush() }
        flushing.removeAll(keepingCapacity: true)
    }
}
