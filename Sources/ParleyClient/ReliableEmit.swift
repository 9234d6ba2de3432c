public import ParleyProtocol
import Synchronization

/// A reliable emit, kept in the outbox (`Protocol/reliable.md` § 6.1): its key, and the
/// server's answer once it comes.
///
/// Dropping it changes nothing: the emit is sent, again after each reconnection or restart of
/// the app, until the server acknowledges it.
public struct ReliableEmit: Sendable {
    /// The idempotency key the emit carries, `<device id>.<sequence>`.
    public let key: String
    let box: ReliableAnswer

    /// The arguments of the server's acknowledgement, waiting for it as long as it takes
    /// (across reconnections), or until the calling task is cancelled.
    ///
    /// - Throws: ``ReliableEmitError`` when the server refused the emit (e.g.
    ///   ``ReliableErrorCode/keyReused``); `CancellationError`.
    public func answer() async throws -> SocketArguments {
        try await box.value()
    }
}

/// The answer to one outbox emit, for any number of tasks waiting for it.
final class ReliableAnswer: Sendable {
    private struct State {
        var result: Result<SocketArguments, any Error>?
        var waiters: [UInt64: CheckedContinuation<SocketArguments, any Error>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Hands `result` to the tasks waiting and to those that ask later.
    func resolve(_ result: Result<SocketArguments, any Error>) {
        let waiters = state.withLock { state -> [CheckedContinuation<SocketArguments, any Error>] in
            guard state.result == nil else { return [] }
            state.result = result
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(with: result) }
    }

    func value() async throws -> SocketArguments {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let ready = state.withLock { state -> Result<SocketArguments, any Error>? in
                    if let result = state.result { return result }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(throwing: CancellationError())
        }
    }
}
