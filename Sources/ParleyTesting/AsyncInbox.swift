public import NIOCore

/// A queue of values produced on one event loop and awaited by tests with a time limit.
///
/// `@unchecked Sendable`: all state is touched on `eventLoop` only.
public final class AsyncInbox<Value: Sendable>: @unchecked Sendable {
    /// Thrown when no value arrived in time.
    public struct TimeoutError: Error, CustomStringConvertible {
        public let description: String
    }

    public let eventLoop: any EventLoop
    private var buffer = CircularBuffer<Value>()
    private var waiters = CircularBuffer<(id: Int, promise: EventLoopPromise<Value?>, timeout: Scheduled<Void>?)>()
    private var finished = false
    private var nextWaiterID = 0

    public init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Adds a value; call on `eventLoop`.
    public func push(_ value: Value) {
        eventLoop.preconditionInEventLoop()
        if let waiter = waiters.popFirst() {
            // The timeout holds the promise, and so the value: it goes with its reason.
            waiter.timeout?.cancel()
            waiter.promise.succeed(value)
        } else {
            buffer.append(value)
        }
    }

    /// Marks the end: waiting readers get `nil` once the buffer is drained; call on `eventLoop`.
    public func finish() {
        eventLoop.preconditionInEventLoop()
        finished = true
        while let waiter = waiters.popFirst() {
            waiter.timeout?.cancel()
            waiter.promise.succeed(nil)
        }
    }

    /// The next value, `nil` after ``finish()``, or ``TimeoutError`` after `timeout`.
    public func next(timeout: Duration = .seconds(5)) async throws -> Value? {
        try await eventLoop.flatSubmit { () -> EventLoopFuture<Value?> in
            if let value = self.buffer.popFirst() { return self.eventLoop.makeSucceededFuture(value) }
            if self.finished { return self.eventLoop.makeSucceededFuture(nil) }
            let promise = self.eventLoop.makePromise(of: Value?.self)
            let id = self.nextWaiterID
            self.nextWaiterID += 1
            let task = self.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
                if let index = self.waiters.firstIndex(where: { $0.id == id }) {
                    self.waiters.remove(at: index)
                    promise.fail(TimeoutError(description: "nothing arrived within \(timeout)"))
                }
            }
            self.waiters.append((id, promise, task))
            return promise.futureResult
        }.get()
    }

    /// Values buffered right now, without waiting.
    public func drain() async throws -> [Value] {
        try await eventLoop.submit {
            let values = Array(self.buffer)
            self.buffer.removeAll()
            return values
        }.get()
    }
}
