import NIOCore

/// The sessions of one event loop that have packets to flush at the end of the current tick.
///
/// A broadcast queues one packet on each of its recipients; rather than one scheduled task per
/// session, the loop runs one task that flushes all of them. Sessions that wrote straight to
/// their WebSocket are flushed sooner: when another session writes, the previous writer is
/// flushed while its connection is still in the cache. Writes of one session in a row (a
/// packet and its attachments, several emits from one handler) still leave in one flush.
///
/// `@unchecked Sendable`: its state is touched on `eventLoop` only.
final class LoopFlusher: @unchecked Sendable {
    let eventLoop: any EventLoop
    private var pending: [EngineSession] = []
    /// The list being flushed, kept between ticks so that neither list is reallocated.
    private var flushing: [EngineSession] = []
    private var scheduled = false
    /// The session that wrote to its WebSocket last and has not flushed yet.
    private var lastWriter: EngineSession?

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Flushes `session` at the end of this tick. Call on ``eventLoop``.
    func schedule(_ session: EngineSession) {
        eventLoop.assertInEventLoop()
        pending.append(session)
        scheduleRun()
    }

    /// `session` wrote to its WebSocket without flushing. Call on ``eventLoop``.
    func wrote(_ session: EngineSession) {
        eventLoop.assertInEventLoop()
        if let last = lastWriter, last !== session { last.flush() }
        lastWriter = session
        scheduleRun()
    }

    private func scheduleRun() {
        guard !scheduled else { return }
        scheduled = true
        eventLoop.execute { self.run() }
    }

    private func run() {
        scheduled = false
        if let last = lastWriter {
            lastWriter = nil
            last.flush()
        }
        swap(&pending, &flushing)
        for session in flushing { session.flush() }
        flushing.removeAll(keepingCapacity: true)
    }
}
