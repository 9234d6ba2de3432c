import Synchronization

/// A value made once by whichever task asks first, while the others wait for it — without a
/// task of its own. A failure is handed to the tasks waiting then; the next ask tries again.
final class AsyncOnce<Value: Sendable>: Sendable {
    private enum State {
        case idle
        case running([CheckedContinuation<Value?, any Error>])
        case done(Value)
    }

    private enum Step {
        case done(Value)
        case make
        case wait
    }

    private let state = Mutex(State.idle)

    /// The value, made by `make` if no task made it yet.
    func value(_ make: () async throws -> Value) async throws -> Value {
        while true {
            let step = state.withLock { state -> Step in
                switch state {
                case .done(let value): return .done(value)
                case .running: return .wait
                case .idle:
                    state = .running([])
                    return .make
                }
            }
            switch step {
            case .done(let value):
                return value
            case .make:
                let result = await Result(catching: make)
                let waiters = state.withLock { state -> [CheckedContinuation<Value?, any Error>] in
                    guard case .running(let waiters) = state else { return [] }
                    if case .success(let value) = result { state = .done(value) } else { state = .idle }
                    return waiters
                }
                for waiter in waiters { waiter.resume(with: result.map { $0 }) }
                return try result.get()
            case .wait:
                let made = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value?, any Error>) in
                    let now = state.withLock { state -> Value?? in
                        switch state {
                        case .done(let value): return .some(value)
                        case .idle: return .some(nil)  // the maker finished in between: ask again
                        case .running(var waiters):
                            waiters.append(continuation)
                            state = .running(waiters)
                            return nil
                        }
                    }
                    if let now { continuation.resume(returning: now) }
                }
                if let made { return made }
            }
        }
    }
}

extension Result where Failure == any Error {
    /// The result of an async throwing body.
    init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}
