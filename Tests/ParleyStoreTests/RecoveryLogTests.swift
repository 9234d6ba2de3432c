import NIOCore
import ParleyStore
import Testing

/// The writer in front of each store.
@Suite("Recovery log")
struct RecoveryLogTests {
    @Test(arguments: StoreKind.allCases)
    func replaysWhatWasAppendedOnceFlushed(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withRunningLog(kind, clock: clock) { (log) async throws in
            let first = log.nextSequence()
            for _ in 0..<3 {
                log.append(entry(log.nextSequence(), time: clock.now))
            }
            log.append(entry(first, rooms: ["r"], time: clock.now))
            try await log.flush()
            let start = RecoveryOffset(epoch: log.epoch, sequence: first - 1)
            let replay = try await log.replay(namespace: "/", after: start, rooms: ["r"], limit: 10)
            #expect(replay.sequences == Array(first...(first + 3)))
            let fromSecond = RecoveryOffset(epoch: log.epoch, sequence: first + 1)
            #expect(try await log.replay(namespace: "/", after: fromSecond, rooms: [], limit: 10).sequences == [first + 2, first + 3])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func expiresForeignAndFutureOffsets(kind: StoreKind) async throws {
        try await withRunningLog(kind, clock: TestClock()) { (log) async throws in
            log.append(entry(log.nextSequence()))
            let foreign = RecoveryOffset(epoch: log.epoch + "x", sequence: 0)
            #expect(try await log.replay(namespace: "/", after: foreign, rooms: [], limit: 10) == .expired)
            let future = RecoveryOffset(epoch: log.epoch, sequence: log.sequenceHighWater)
            #expect(try await log.replay(namespace: "/", after: future, rooms: [], limit: 10) == .expired)
            let latest = RecoveryOffset(epoch: log.epoch, sequence: log.sequenceHighWater - 1)
            #expect(try await log.replay(namespace: "/", after: latest, rooms: [], limit: 10) == .entries([]))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func expiresPositionsBeforeEntriesThatWereNotKept(kind: StoreKind) async throws {
        var configuration = RecoveryLog.Configuration()
        configuration.maxPendingBytes = entry(1).byteCount
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = makeStore(kind, in: directory)
        let log = try await RecoveryLog.open(store: store, configuration: configuration)
        // The writer is not running: the second entry finds the pending bytes full.
        let first = log.nextSequence()
        log.append(entry(first))
        log.append(entry(log.nextSequence()))
        log.finish()
        await log.run()
        // The log closes its store once drained; open it again to look inside.
        _ = try await store.open(now: 0)
        let before = RecoveryOffset(epoch: log.epoch, sequence: first)
        #expect(try await log.replay(namespace: "/", after: before, rooms: [], limit: 10) == .expired)
        let after = RecoveryOffset(epoch: log.epoch, sequence: first + 1)
        #expect(try await log.replay(namespace: "/", after: after, rooms: [], limit: 10) == .entries([]))
        try await store.close()
    }

    @Test(arguments: StoreKind.allCases)
    func givesBackOnlySessionsThatLeftRecently(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withRunningLog(kind, clock: clock) { (log) async throws in
            log.save(session("old", disconnectedAt: clock.now))
            clock.advance(by: .seconds(10))
            log.save(session("recent", disconnectedAt: clock.now))
            clock.advance(by: .seconds(2))
            #expect(try await log.takeSession(pid: "old", maxAge: .seconds(5)) == nil)
            #expect(try await log.takeSession(pid: "recent", maxAge: .seconds(5)) == session("recent", disconnectedAt: clock.now - 2_000))
            #expect(try await log.takeSession(pid: "recent", maxAge: .seconds(5)) == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func keepsTheOrderOfASessionRemovedThenSaved(kind: StoreKind) async throws {
        let clock = TestClock()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = makeStore(kind, in: directory)
        let log = try await RecoveryLog.open(store: store, clock: { clock.now })
        // Both changes land in one batch, as when they arrive while a commit runs.
        log.save(session("a", disconnectedAt: nil))
        log.removeSession(pid: "a")
        log.removeSession(pid: "b")
        log.save(session("b", disconnectedAt: clock.now))
        log.finish()
        await log.run()
        // The log closes its store once drained; open it again to look inside.
        _ = try await store.open(now: 0)
        #expect(try await store.takeSession(pid: "a") == nil)
        #expect(try await store.takeSession(pid: "b") == session("b", disconnectedAt: clock.now))
        try await store.close()
    }

    @Test(arguments: StoreKind.allCases)
    func commitsWhatIsPendingWhenRunAfterFinish(kind: StoreKind) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = makeStore(kind, in: directory)
        let log = try await RecoveryLog.open(store: store, clock: { 0 })
        let sequences = (0..<100).map { _ in log.nextSequence() }
        for sequence in sequences { log.append(entry(sequence)) }
        log.save(session("p", disconnectedAt: 0))
        log.finish()
        log.append(entry(log.nextSequence())) // too late: not kept
        await log.run()
        // The log closes its store once drained; open it again to look inside.
        _ = try await store.open(now: 0)
        #expect(try await store.replayAll().sequences == sequences)
        #expect(try await store.takeSession(pid: "p") != nil)
        try await log.flush()
        try await store.close()
    }

    /// Opens a log on a fresh store of `kind`, runs its writer while `body` runs, then finishes
    /// it and closes the store.
    private func withRunningLog(_ kind: StoreKind, clock: TestClock, _ body: (RecoveryLog) async throws -> Void) async throws {
        try await withStore(kind) { (store, _) async throws in
            let log = try await RecoveryLog.open(store: store, clock: { clock.now })
            try await withThrowingTaskGroup { group in
                group.addTask { await log.run() }
                defer { log.finish() }
                try await body(log)
            }
        }
    }
}
