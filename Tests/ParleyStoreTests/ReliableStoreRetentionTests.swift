import ParleyStore
import Testing

/// Retention, queue state and idempotency records, run against each ``ReliableStore``.
@Suite("Reliable stores: retention and keys")
struct ReliableStoreRetentionTests {
    @Test(arguments: StoreKind.allCases)
    func reportsTheStateOfAQueue(kind: StoreKind) async throws {
        try await ReliableFixture.with(kind) { fixture async throws in
            let store = fixture.store
            #expect(try await store.state(of: alice) == UserQueueState())
            try await store.register("phone")
            try await store.register("laptop")
            let first = try #require(try await store.enqueue("12345", time: 700).sequence)
            _ = try await store.commit(.enqueue(alice, message("678", time: 800, attachments: [[1, 2]]), bounds: QueueBounds(), origin: nil))
            let expected = UserQueueState(messages: 2, bytes: 10, oldestSequence: first, oldestTimeMilliseconds: 700, dropped: 0, devices: 2)
            #expect(try await store.state(of: alice) == expected)
            try await fixture.restart()
            #expect(try await fixture.store.state(of: alice) == expected)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func trimsQueuedMessagesByAgeOldestFirstAndCountsThemAsDropped(kind: StoreKind) async throws {
        try await ReliableFixture.with(kind) { fixture async throws in
            let store = fixture.store
            try await store.register("phone")
            let a1 = try #require(try await store.enqueue("at 100", time: 100).sequence)
            _ = try await store.enqueue("at 150", to: bob, time: 150)
            _ = try await store.enqueue("at 200", time: 200)
            let a3 = try #require(try await store.enqueue("at 300", time: 300).sequence)
            // Accepted after a younger message (a clock that went back): kept until that one goes.
            let b2 = try #require(try await store.enqueue("at 120", to: bob, time: 120).sequence)
            #expect(a1 < a3)

            #expect(try await store.trim(retention(messagesBefore: 250), now: 1_000) == ReliableTrimResult(messages: 3))
            #expect(try await store.sequences() == [a3])
            #expect(try await store.sequences(in: bob) == [b2])
            #expect(try await store.state(of: alice) == UserQueueState(messages: 1, bytes: 6, oldestSequence: a3, oldestTimeMilliseconds: 300, dropped: 2, devices: 1))
            #expect(try await store.state(of: bob) == UserQueueState(messages: 1, bytes: 6, oldestSequence: b2, oldestTimeMilliseconds: 120, dropped: 1))
            #expect(try await store.trim(retention(messagesBefore: 250), now: 1_000) == ReliableTrimResult())
            #expect(try await store.trim(retention(messagesBefore: 350), now: 1_000) == ReliableTrimResult(messages: 2))
            #expect(try await store.state(of: bob) == UserQueueState(dropped: 2))
            // The counters stay right for what comes next.
            let bounds = QueueBounds(maxMessages: 1, overflow: .refuse)
            #expect(try await store.enqueue("fits", bounds: bounds).sequence != nil)
            #expect(try await store.enqueue("does not", bounds: bounds).sequence == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func forgetsDevicesNotSeenAndReleasesWhatTheOthersAcknowledged(kind: StoreKind) async throws {
        try await ReliableFixture.with(kind) { fixture async throws in
            let store = fixture.store
            try await store.register("old phone", now: 100)
            try await store.register("laptop", now: 100)
            try await store.register("only device", in: bob, now: 100)
            var sequences: [UInt64] = []
            for text in ["1", "2", "3"] { sequences.append(try #require(try await store.enqueue(text).sequence)) }
            let bobs = try #require(try await store.enqueue("kept", to: bob).sequence)
            // Seen again: by an acknowledgement, and by a new connection.
            try await store.acknowledge("laptop", through: sequences[1], now: 500)
            try await store.register("laptop", now: 600)
            #expect(try await store.sequences() == sequences)

            let result = try await store.trim(retention(devicesSeenBefore: 300), now: 1_000)
            #expect(result == ReliableTrimResult(messages: 2, devices: 2))
            #expect(try await store.position(of: "old phone", in: alice) == nil)
            #expect(try await store.position(of: "laptop", in: alice) == sequences[1])
            #expect(try await store.state(of: alice) == UserQueueState(messages: 1, bytes: 1, oldestSequence: sequences[2], oldestTimeMilliseconds: 0, devices: 1))
            // A queue whose last device was forgotten keeps its messages until they are too old.
            #expect(try await store.sequences(in: bob) == [bobs])
            #expect(try await store.state(of: bob).devices == 0)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func keepsTheFirstRecordOfAKeyAcrossARestart(kind: StoreKind) async throws {
        let phone = IdempotencyScope(namespace: "/", user: "alice", device: "phone")
        let first = IdempotencyRecord(scope: phone, key: "k.1", digest: .max, response: Array("[{\"id\":\"e.7\"}]".utf8), responseAttachments: [[9, 8], []], timeMilliseconds: 100)
        var retry = first
        retry.response = Array("[\"other\"]".utf8)
        retry.digest = 42
        let laptop = IdempotencyRecord(scope: IdempotencyScope(namespace: "/", user: "alice", device: "laptop"), key: "k.1", digest: 1, response: [], timeMilliseconds: 100)
        try await ReliableFixture.with(kind) { fixture async throws in
            let outcomes = try await fixture.store.commit([.remember(first), .remember(retry), .remember(laptop)], now: 100)
            #expect(outcomes == [.applied, .applied, .applied])
            #expect(try await fixture.store.commit(.remember(retry), now: 200) == .applied)
            #expect(try await fixture.store.idempotencyRecord(phone, key: "k.1") == first)
            #expect(try await fixture.store.idempotencyRecord(laptop.scope, key: "k.1") == laptop)
            #expect(try await fixture.store.idempotencyRecord(phone, key: "k.2") == nil)
            #expect(try await fixture.store.idempotencyRecord(IdempotencyScope(namespace: "/chat", user: "alice", device: "phone"), key: "k.1") == nil)
            try await fixture.restart()
            #expect(try await fixture.store.idempotencyRecord(phone, key: "k.1") == first)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func trimsKeysAndOriginsByAge(kind: StoreKind) async throws {
        let scope = IdempotencyScope(namespace: "/", user: "alice", device: "")
        let old = IdempotencyRecord(scope: scope, key: "old", digest: 1, response: [], timeMilliseconds: 100)
        let recent = IdempotencyRecord(scope: scope, key: "recent", digest: 2, response: [], timeMilliseconds: 300)
        try await ReliableFixture.with(kind) { fixture async throws in
            let store = fixture.store
            _ = try await store.commit([.remember(old), .remember(recent)], now: 300)
            let oldOrigin = try #require(try await store.enqueue("old", origin: "old#0", now: 100).sequence)
            let recentOrigin = try #require(try await store.enqueue("recent", origin: "recent#0", now: 300).sequence)

            #expect(try await store.trim(retention(keysBefore: 200), now: 1_000) == ReliableTrimResult(keys: 2))
            #expect(try await store.idempotencyRecord(scope, key: "old") == nil)
            #expect(try await store.idempotencyRecord(scope, key: "recent") == recent)
            #expect(try await store.enqueue("recent", origin: "recent#0") == .enqueued(sequence: recentOrigin, dropped: 0, duplicate: true))
            let again = try #require(try await store.enqueue("old", origin: "old#0").sequence)
            #expect(again > recentOrigin)
            // Keys go with their own cut: the messages stay.
            #expect(try await store.sequences() == [oldOrigin, recentOrigin, again])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func trimsEverythingInOnePassAndNothingTwice(kind: StoreKind) async throws {
        try await ReliableFixture.with(kind) { fixture async throws in
            let store = fixture.store
            try await store.register("phone", now: 100)
            _ = try await store.enqueue("old", time: 100, origin: "o#0", now: 100)
            _ = try await store.append("old", time: 100)
            _ = try await store.commit(.remember(IdempotencyRecord(
                scope: IdempotencyScope(namespace: "/", user: "alice", device: "phone"), key: "k", digest: 0, response: [], timeMilliseconds: 100
            )))
            let everything = retention(messagesBefore: 200, devicesSeenBefore: 200, roomMessagesBefore: 200, keysBefore: 200)
            #expect(try await store.trim(everything, now: 1_000) == ReliableTrimResult(messages: 1, devices: 1, roomMessages: 1, keys: 2))
            #expect(try await store.trim(everything, now: 1_000) == ReliableTrimResult())
            #expect(try await store.state(of: alice) == UserQueueState(dropped: 1))
            #expect(try await store.history(of: lobby, after: nil, limit: 10, newest: false) == HistoryPage(messages: [], latest: 1, oldestKept: 2, truncated: false))
        }
    }
}
