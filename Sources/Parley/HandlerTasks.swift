import NIOConcurrencyHelpers

/// The asynchronous work a server runs on behalf of its connections — middlewares and
/// `on(_:answer:)` handlers — tracked so that shutdown cancels it and waits for it. Nothing a
/// server starts outlives ``SocketServer/shutdown()``.
final class HandlerTasks: Sendable {
    private struct State {
        var tasks: [UInt64: Task<Void, Never>] = [:]
        var nextID: UInt64 = 0
        var closed = false
    }

    // A pthread mutex: ThreadSanitizer sees its ordering, and tasks created and finished on
    // different threads meet here (with the standard library's Mutex it reported races).
    private let state = NIOLockedValueBox(State())

    /// Starts `work` as a tracked task.
    ///
    /// - Returns: `false` once shutdown began; `work` does not run then.
    @discardableResult
    func run(_ work: @escaping @Sendable () async -> Void) -> Bool {
        state.withLockedValue { state in
            guard !state.closed else { return false }
            let id = state.nextID
            state.nextID += 1
            // Created under the lock: the task's own removal below waits for it to be stored.
            state.tasks[id] = Task {
                await work()
                self.finished(id)
            }
            return true
        }
    }

    private func finished(_ id: UInt64) {
        _ = state.withLockedValue { $0.tasks.removeValue(forKey: id) }
    }

    /// The number of tasks running (tests).
    var count: Int { state.withLockedValue { $0.tasks.count } }

    /// Refuses new work, cancels every running task and waits until all have ended.
    func shutdown() async {
        let running = state.withLockedValue { state in
            state.closed = true
            return Array(state.tasks.values)
        }
        for task in running { task.cancel() }
        for task in running { await task.value }
    }
}
