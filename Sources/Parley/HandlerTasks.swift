import NIOConcurrencyHelpers

/// The asynchronous work a server runs on behalf of its connections — middlewares,
/// `on(_:answer:)` handlers, recoveries — tracked so that shutdown cancels it and waits for it.
/// Nothing a server starts outlives ``SocketServer/shutdown()``.
///
/// While the server runs (``SocketServer/run()`` or ``SocketServer/start()``), each piece of
/// work is a child task of ``runChildren()``, itself a child of the server's task. A server
/// driven without being started (custom transports in tests) has no such parent: its work runs
/// in tasks kept here, cancelled and awaited the same way at shutdown.
final class HandlerTasks: Sendable {
    typealias Work = @Sendable () async -> Void

    private struct State {
        /// Work started while no ``runChildren()`` was running.
        var detached: [UInt64: Task<Void, Never>] = [:]
        var nextID: UInt64 = 0
        var closed = false
        /// Whether ``runChildren()`` takes the work.
        var hasRunner = false
        /// Work waiting for ``runChildren()`` to start it.
        var queue: [Work] = []
        /// ``runChildren()`` waiting for work.
        var wake: CheckedContinuation<Void, Never>?
        /// Work in flight, of both kinds.
        var running = 0
        /// ``shutdown()`` calls waiting for `running` to reach zero.
        var drained: [CheckedContinuation<Void, Never>] = []
    }

    // A pthread mutex: ThreadSanitizer sees its ordering, and tasks created and finished on
    // different threads meet here (with the standard library's Mutex it reported races).
    private let state = NIOLockedValueBox(State())

    /// Starts `work` as a tracked task.
    ///
    /// - Returns: `false` once shutdown began; `work` does not run then.
    @discardableResult
    func run(_ work: @escaping Work) -> Bool {
        let (started, wake) = state.withLockedValue { state -> (Bool, CheckedContinuation<Void, Never>?) in
            guard !state.closed else { return (false, nil) }
            state.running += 1
            if state.hasRunner {
                state.queue.append {
                    await work()
                    self.finished(nil)
                }
                defer { state.wake = nil }
                return (true, state.wake)
            }
            let id = state.nextID
            state.nextID += 1
            // Created under the lock: the task's own removal in `finished` waits for it to be stored.
            state.detached[id] = Task {
                await work()
                self.finished(id)
            }
            return (true, nil)
        }
        wake?.resume()
        return started
    }

    private func finished(_ id: UInt64?) {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            if let id { state.detached[id] = nil }
            state.running -= 1
            guard state.running == 0 else { return [] }
            defer { state.drained.removeAll() }
            return state.drained
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Runs the work submitted from now on as child tasks, until ``shutdown()``; then cancels
    /// the children still running and waits for them.
    ///
    /// Cancellation of the caller cancels the children but does not end the loop: work
    /// submitted meanwhile still runs (and sees the cancellation), so ``shutdown()`` never
    /// waits for work nobody would start.
    func runChildren() async {
        let accepted = state.withLockedValue { state -> Bool in
            guard !state.closed, !state.hasRunner else { return false }
            state.hasRunner = true
            return true
        }
        guard accepted else { return }
        await withDiscardingTaskGroup { group in
            while true {
                // The batch is let go before waiting (its own scope): its closures, and what
                // they capture, must not live until the next piece of work arrives.
                let closed: Bool
                do {
                    let (batch, isClosed) = state.withLockedValue { state in
                        defer { state.queue.removeAll() }
                        return (state.queue, state.closed)
                    }
                    for work in batch { group.addTask(operation: work) }
                    closed = isClosed
                }
                if closed { break }
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let now = state.withLockedValue { state -> Bool in
                        guard state.queue.isEmpty, !state.closed else { return true }
                        state.wake = continuation
                        return false
                    }
                    if now { continuation.resume() }
                }
            }
            group.cancelAll()
        }
    }

    /// The number of pieces of work running (tests).
    var count: Int { state.withLockedValue { $0.running } }

    /// Refuses new work, cancels everything running and waits until all of it has ended.
    func shutdown() async {
        let (detached, wake) = state.withLockedValue { state in
            state.closed = true
            defer { state.wake = nil }
            return (Array(state.detached.values), state.wake)
        }
        // `runChildren()` starts what is queued, leaves its loop and cancels its children.
        wake?.resume()
        for task in detached { task.cancel() }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLockedValue { state -> Bool in
                guard state.running > 0 else { return true }
                state.drained.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }
}
