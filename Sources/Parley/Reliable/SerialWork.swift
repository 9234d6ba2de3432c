import NIOConcurrencyHelpers

/// Work run one piece at a time, in the order it was added, on the server's tracked tasks.
final class SerialWork: Sendable {
    typealias Work = @Sendable () async -> Void

    private struct State {
        var queue: [Work] = []
        var running = false
    }

    private let state = NIOLockedValueBox(State())

    /// Adds `work`; starts a runner on `tasks` if none runs.
    func add(_ work: @escaping Work, on tasks: HandlerTasks) {
        let start = state.withLockedValue { state -> Bool in
            state.queue.append(work)
            defer { state.running = true }
            return !state.running
        }
        guard start else { return }
        let started = tasks.run { await self.drain() }
        if !started { state.withLockedValue { $0 = State() } }
    }

    private func drain() async {
        while true {
            let next = state.withLockedValue { state -> Work? in
                guard !state.queue.isEmpty else {
                    state.running = false
                    return nil
                }
                return state.queue.removeFirst()
            }
            guard let next else { return }
            await next()
        }
    }
}
