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
        /// Where work goes while ``runChildren()`` runs.
        var runner: AsyncStream<Work>.Continuation?
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
        state.withLockedValue { state in
            guard !state.closed else { return false }
            state.running += 1
            let tracked: Work = {
                await work()
                self.finished(nil)
            }
            if let runner = state.runner {
                runner.yield(tracked)
                return true
            }
            let id = state.nextID
            state.nextID += 1
            // Created under the lock: the task's own removal in `finished` waits for it to be stored.
            state.detached[id] = Task {
                await work()
                self.finished(id)
            }
            return true
        }
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
    func runChildren() async {
        let (stream, continuation) = AsyncStream.makeStream(of: Work.self)
        let accepted = state.withLockedValue { state -> Bool in
            guard !state.closed, state.runner == nil else { return false }
            state.runner = continuation
            return true
        }
        guard accepted else { return }
        await withDiscardingTaskGroup { group in
            for await work in stream { group.addTask(operation: work) }
            group.cancelAll()
        }
    }

    /// The number of pieces of work running (tests).
    var count: Int { state.withLockedValue { $0.running } }

    /// Refuses new work, cancels everything running and waits until all of it has ended.
    func shutdown() async {
        let (detached, runner) = state.withLockedValue { state in
            state.closed = true
            defer { state.runner = nil }
            return (Array(state.detached.values), state.runner)
        }
        // Ending the stream ends `runChildren()`'s loop, which cancels its children.
        runner?.finish()
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
