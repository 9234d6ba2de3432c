import NIOCore
import ParleyStore
import Testing

/// The semantics every ``RecoveryStore`` keeps, run against each implementation.
@Suite("Recovery stores")
struct RecoveryStoreTests {
    @Test(arguments: StoreKind.allCases)
    func startsANewStoreAtSequenceOne(kind: StoreKind) async throws {
        try await withStore(kind) { (store, state) async throws in
            #expect(state.nextSequence == 1)
            #expect(RecoveryOffset("\(state.epoch)-a1") != nil)
            #expect(try await store.replayAll() == .entries([]))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func replaysTheEntriesAfterAPositionUpToTheLimit(kind: StoreKind) async throws {
        try await withStore(kind) { (store, _) async throws in
            try await store.commit(RecoveryBatch(entries: (1...5).map { entry($0, time: Int64($0)) }))
            #expect(try await store.replayAll().sequences == [1, 2, 3, 4, 5])
            #expect(try await store.replayAll(after: 2).sequences == [3, 4, 5])
            #expect(try await store.replayAll(after: 5).sequences == [])
            #expect(try await store.replay(namespace: "/", after: 0, rooms: [], limit: 2).sequences == [1, 2])
            #expect(try await store.replay(namespace: "/", after: 0, rooms: [], limit: 0).sequences == [])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func keepsEveryFieldOfAnEntry(kind: StoreKind) async throws {
        let entries = [
            entry(1, rooms: ["a,b", "back\\slash", "", "ünïcødé 🚀"], except: [","], attachments: [[0, 1, 2], [], [255]], time: 1_700_000_000_123),
            entry(2, rooms: [""], except: ["\\", "\\,"], packet: "", time: -5),
            entry(3, rooms: ["plain"], packet: "2[\"chat\",\"hello\"]", attachments: [Array(repeating: 7, count: 70_000)]),
        ]
        try await withStore(kind) { (store, _) async throws in
            try await store.commit(RecoveryBatch(entries: entries))
            let replayed = try await store.replay(namespace: "/", after: 0, rooms: ["", "plain", "a,b"], limit: 10)
            #expect(replayed == .entries(entries))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func keepsNamespacesApart(kind: StoreKind) async throws {
        try await withStore(kind) { (store, _) async throws in
            try await store.commit(RecoveryBatch(entries: [entry(1), entry(2, namespace: "/admin"), entry(3), entry(4, namespace: "/admin")]))
            #expect(try await store.replayAll().sequences == [1, 3])
            #expect(try await store.replayAll(namespace: "/admin").sequences == [2, 4])
            #expect(try await store.replayAll(namespace: "/other").sequences == [])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func selectsTheEntriesAddressedToTheSocketsRooms(kind: StoreKind) async throws {
        try await withStore(kind) { (store, _) async throws in
            try await store.commit(RecoveryBatch(entries: [
                entry(1),
                entry(2, rooms: ["r1"]),
                entry(3, rooms: ["r2"]),
                entry(4, except: ["r1"]),
                entry(5, rooms: ["s1"]),
                entry(6, rooms: ["r1", "r2"], except: ["s1"]),
            ]))
            // A socket's own room is its id.
            #expect(try await store.replayAll(rooms: ["s1", "r1"]).sequences == [1, 2, 5])
            #expect(try await store.replayAll(rooms: ["s2", "r2"]).sequences == [1, 3, 4, 6])
            #expect(try await store.replayAll(rooms: ["s3"]).sequences == [1, 4])
            #expect(try await store.replay(namespace: "/", after: 1, rooms: ["s2", "r2"], limit: 2).sequences == [3, 4])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func replaysEntriesCommittedOutOfOrderInSequenceOrder(kind: StoreKind) async throws {
        try await withStore(kind) { (store, _) async throws in
            try await store.commit(RecoveryBatch(entries: [entry(1), entry(2), entry(5)]))
            try await store.commit(RecoveryBatch(entries: [entry(3), entry(4)]))
            try await store.commit(RecoveryBatch(entries: [entry(6)]))
            #expect(try await store.replayAll().sequences == [1, 2, 3, 4, 5, 6])
            #expect(try await store.replayAll(after: 2).sequences == [3, 4, 5, 6])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func trimsEntriesByAgeAndExpiresPositionsBeforeTheHorizon(kind: StoreKind) async throws {
        try await withStore(kind) { (store, _) async throws in
            try await store.commit(RecoveryBatch(entries: (1...5).map { entry($0, time: 100 + Int64($0)) }))
            let result = try await store.trim(cut(entriesBefore: 104))
            #expect(result == TrimResult(entries: 3, sessions: 0))
            #expect(try await store.replayAll() == .expired)
            #expect(try await store.replayAll(after: 2) == .expired)
            #expect(try await store.replayAll(after: 3).sequences == [4, 5])
            #expect(try await store.trim(cut(entriesBefore: 104)) == TrimResult(entries: 0, sessions: 0))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func trimsTheOldestEntriesBeyondTheCount(kind: StoreKind) async throws {
        try await withStore(kind) { (store, _) async throws in
            try await store.commit(RecoveryBatch(entries: (1...5).map { entry($0) }))
            #expect(try await store.trim(cut(maxEntries: 2)).entries == 3)
            #expect(try await store.replayAll(after: 3).sequences == [4, 5])
            #expect(try await store.replayAll(after: 1) == .expired)
            try await store.commit(RecoveryBatch(entries: [entry(6)]))
            #expect(try await store.trim(cut(maxEntries: 2)).entries == 1)
            #expect(try await store.replayAll(after: 4).sequences == [5, 6])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func trimsTheOldestEntriesBeyondTheBytes(kind: StoreKind) async throws {
        let entries = (1...5).map { entry($0, packet: "0123456789") }
        let size = entries[0].byteCount
        try await withStore(kind) { (store, _) async throws in
            try await store.commit(RecoveryBatch(entries: entries))
            #expect(try await store.trim(cut(maxBytes: 2 * size + size / 2)).entries == 3)
            #expect(try await store.replayAll(after: 3).sequences == [4, 5])
            #expect(try await store.replayAll(after: 2) == .expired)
            #expect(try await store.trim(cut(maxBytes: 2 * size)).entries == 0)
            #expect(try await store.trim(cut(maxBytes: 0)).entries == 2)
            #expect(try await store.replayAll(after: 5).sequences == [])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func savesAndTakesSessionsOnce(kind: StoreKind) async throws {
        try await withStore(kind) { (store, _) async throws in
            let left = session("p1", rooms: ["lobby", "a,b"], disconnectedAt: 500)
            try await store.commit(RecoveryBatch(sessions: [session("p1", disconnectedAt: nil), left, session("p2", rooms: [], disconnectedAt: nil)]))
            #expect(try await store.takeSession(pid: "p1") == left)
            #expect(try await store.takeSession(pid: "p1") == nil)
            #expect(try await store.takeSession(pid: "p2") == session("p2", rooms: [], disconnectedAt: nil))
            #expect(try await store.takeSession(pid: "unknown") == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func removesSessionsAfterSavingThoseOfTheSameBatch(kind: StoreKind) async throws {
        try await withStore(kind) { (store, _) async throws in
            try await store.commit(RecoveryBatch(sessions: [session("p1", disconnectedAt: nil)]))
            try await store.commit(RecoveryBatch(sessions: [session("p1", disconnectedAt: 5), session("p2", disconnectedAt: 5)], removedSessions: ["p1"]))
            #expect(try await store.takeSession(pid: "p1") == nil)
            #expect(try await store.takeSession(pid: "p2") != nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func trimsDisconnectedSessionsButNeverConnectedOnes(kind: StoreKind) async throws {
        try await withStore(kind) { (store, _) async throws in
            try await store.commit(RecoveryBatch(sessions: [
                session("connected", disconnectedAt: nil),
                session("old", disconnectedAt: 100),
                session("recent", disconnectedAt: 200),
            ]))
            #expect(try await store.trim(cut(sessionsBefore: 150)) == TrimResult(entries: 0, sessions: 1))
            #expect(try await store.trim(cut(sessionsBefore: .max)) == TrimResult(entries: 0, sessions: 1))
            #expect(try await store.takeSession(pid: "connected") != nil)
            #expect(try await store.takeSession(pid: "old") == nil)
            #expect(try await store.takeSession(pid: "recent") == nil)
        }
    }

    private func cut(entriesBefore: Int64 = .min, sessionsBefore: Int64 = .min, maxEntries: Int = .max, maxBytes: Int = .max) -> RetentionCut {
        RetentionCut(entriesBeforeMilliseconds: entriesBefore, sessionsDisconnectedBeforeMilliseconds: sessionsBefore, maxEntries: maxEntries, maxBytes: maxBytes)
    }
}
