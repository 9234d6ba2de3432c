import Logging

/// The lifecycle both group-commit writers share (``RecoveryLog``, ``ReliableLog``): write until
/// the owner says finish, run retention every `trimInterval` meanwhile, then close the store.
enum StoreWriter {
    /// Runs `write` to its end with `trim` every `trimInterval` beside it (stopped once `write`
    /// returns), then `close`; a failed close is logged as `what` "did not close cleanly".
    static func run(
        write: @escaping @Sendable () async -> Void,
        trim: @escaping @Sendable () async -> Void,
        trimInterval: Duration,
        close: @Sendable () async throws -> Void,
        what: String,
        logger: Logger
    ) async {
        await withDiscardingTaskGroup { group in
            group.addTask {
                while !Task.isCancelled {
                    do {
                        try await Task.sleep(for: trimInterval)
                    } catch {
                        return
                    }
                    await trim()
                }
            }
            await write()
            group.cancelAll()
        }
        do {
            try await close()
        } catch {
            logger.error("\(what) did not close cleanly", metadata: ["parley.error": "\(error)"])
        }
    }
}
