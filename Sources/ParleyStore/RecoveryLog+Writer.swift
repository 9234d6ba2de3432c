import Logging
import Synchronization
import NIOConcurrencyHelpers

/// The writer: one task that commits what event loops queue, in batches, and runs retention.
extension RecoveryLog {
    /// Commits batches until ``finish()`` was called and nothing is pending, and trims the
    /// store every ``Configuration/trimInterval``.
    ///
    /// Cancellation stops retention but not the writer: whoever owns the log calls
    /// ``finish()`` once nothing more will be queued, so that a shutdown commits what the
    /// closing sessions saved. Then the store is closed.
    public func run() async {
        // The log opened the store; once everything is committed it releases it (an SQLite
        // file is then free for the next process).
        await StoreWriter.run(
            write: { await self.writeLoop() },
            trim: { await self.trimNow() },
            trimInterval: configuration.trimInterval,
            close: { try await self.store.close() },
            what: "recovery store",
            logger: logger
        )
    }

    /// Lets ``run()`` return once what is pending is committed.
    public func finish() {
        let writer = pending.withLockedValue { pending -> CheckedContinuation<Void, Never>? in
            pending.finished = true
            defer { pending.writer = nil }
            return pending.writer
        }
        writer?.resume()
    }

    private func writeLoop() async {
        while true {
            await lingerWhileSmall()
            guard let (batch, ticket) = await nextBatch() else { break }
            var failure: StoreError?
            for attempt in 1...3 {
                do {
                    try await store.commit(batch)
                    failure = nil
                    break
                } catch {
                    failure = error as? StoreError ?? StoreError(.ioFailure, detail: "\(error)")
                    logger.error("recovery log commit failed", metadata: ["parley.attempt": "\(attempt)", "parley.error": "\(error)"])
                    try? await Task.sleep(for: .milliseconds(50 * attempt)) // best effort: a pause before retrying
                }
            }
            let waiters = pending.withLockedValue { pending -> [(ticket: UInt64, continuation: CheckedContinuation<Void, any Error>)] in
                pending.committed = ticket
                if failure == nil { pending.overflowReported = false }
                if failure != nil, let last = batch.entries.map(\.sequence).max() {
                    pending.holeThrough = max(pending.holeThrough, last)
                }
                pending.lastFailure = failure ?? pending.lastFailure
                let ready = pending.flushWaiters.filter { $0.ticket <= ticket }
                pending.flushWaiters.removeAll { $0.ticket <= ticket }
                return ready
            }
            for waiter in waiters {
                if let failure { waiter.continuation.resume(throwing: failure) } else { waiter.continuation.resume() }
            }
        }
    }

    /// Waits ``Configuration/commitDelay`` when what is pending is a small batch, so that it
    /// grows.
    private func lingerWhileSmall() async {
        let delay = configuration.commitDelay
        guard delay > .zero else { return }
        let small = pending.withLockedValue { pending in
            !pending.finished && pending.batch.entries.count < configuration.commitDelayBelowEntries
        }
        guard small else { return }
        try? await Task.sleep(for: delay) // cancellation only ends the wait early
    }

    /// The next batch to commit and the ticket it completes; `nil` once finished and drained.
    private func nextBatch() async -> (RecoveryBatch, UInt64)? {
        while true {
            let taken = pending.withLockedValue { pending -> (RecoveryBatch, UInt64)?? in
                if pending.isEmpty { return pending.finished ? .some(nil) : nil }
                var batch = pending.batch
                pending.batch = RecoveryBatch()
                for (pid, change) in pending.sessionChanges {
                    if let session = change { batch.sessions.append(session) } else { batch.removedSessions.append(pid) }
                }
                pending.sessionChanges = [:]
                pending.bytes = 0
                batch.entries.sort { $0.sequence < $1.sequence }
                return .some((batch, pending.submitted))
            }
            if let taken { return taken }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = pending.withLockedValue { pending -> Bool in
                    guard pending.isEmpty, !pending.finished else { return true }
                    pending.writer = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    /// Runs one retention pass now.
    public func trimNow() async {
        let now = clock()
        let cut = RetentionCut(
            entriesBeforeMilliseconds: now - configuration.maxAge.milliseconds,
            sessionsDisconnectedBeforeMilliseconds: now - configuration.maxAge.milliseconds,
            maxEntries: configuration.maxEntries,
            maxBytes: configuration.maxBytes
        )
        do {
            let result = try await store.trim(cut)
            if result.entries > 0 || result.sessions > 0 {
                logger.debug("recovery log trimmed", metadata: ["parley.entries": "\(result.entries)", "parley.sessions": "\(result.sessions)"])
            }
        } catch {
            logger.error("recovery log retention failed", metadata: ["parley.error": "\(error)"])
        }
    }
}
