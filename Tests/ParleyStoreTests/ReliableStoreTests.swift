import ParleyStore
import Testing

/// The semantics of user queues that every ``ReliableStore`` keeps, run against each
/// implementation.
@Suite("Reliable stores: queues")
struct ReliableStoreTests {
    @Test(arguments: StoreKind.allCases)
    func opensWithAnEpochThatARestartKeeps(kind: StoreKind) async throws {
        try await ReliableFixture.with(kind) { fixture async throws in
            let epoch = fixture.epoch
            #expect(epoch.count == 8)
            #expect(epoch.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber) })
            try await fixture.restart()
            #expect(fixture.epoch == epoch)
            try await ReliableFixture.with(kind) { other async throws in #expect(other.epoch != epoch) }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func refusesUseBeforeOpenAndAfterClose(kind: StoreKind) async throws {
        try await ReliableFixture.with(kind) { fixture async throws in
            try await fixture.store.close()
            let error = await #expect(throws: StoreError.self) { try await fixture.store.enqueue("late") }
            #expect(error?.code == .notOpen)
            let read = await #expect(throws: StoreError.self) { try await fixture.store.state(of: alice) }
            #expect(read?.code == .notOpen)
            try await fixture.restart()
            #expect(try await fixture.store.enqueue("again").sequence != nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func queuesMessagesInOrderWithSequencesIncreasingAcrossQueues(kind: StoreKind) async throws {
        try await ReliableFixture.with(kind) { fixture async throws in
            let store = fixture.store
            let outcomes = try await store.commit([
                .enqueue(alice, message("a1"), bounds: QueueBounds(), origin: nil),
                .enqueue(bob, message("b1"), bounds: QueueBounds(), origin: nil),
                .enqueue(alice, message("a2"), bounds: QueueBounds(), origin: nil),
            ], now: 0)
            let sequences = outcomes.compactMap(\.sequence)
            #expect(sequences.count == 3)
            #expect(sequences == sequences.sorted() && Set(sequences).count == 3)
            #expect(outcomes.allSatisfy { if case .enqueued(_, 0, false) = $0 { true } else { false } })
            let later = try #require(try await store.enqueue("b2", to: bob).sequence)
            #expect(later > sequences[2])

            #expect(try await store.texts(in: alice) == ["a1", "a2"])
            #expect(try await store.sequences(in: alice) == [sequences[0], sequences[2]])
            #expect(try await store.sequences(in: bob) == [sequences[1], later])
            #expect(try await store.sequences(in: alice, after: sequences[0]) == [sequences[2]])
            #expect(try await store.sequences(in: alice, after: sequences[2]) == [])
            #expect(try await store.messages(in: bob, after: 0, limit: 1).map(\.sequence) == [sequences[1]])
            #expect(try await store.messages(in: bob, after: 0, limit: 0) == [])
            #expect(try await store.sequences(in: UserQueue(namespace: "/admin", user: "alice")) == [])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func keepsEveryFieldOfAMessage(kind: StoreKind) async throws {
        let messages = [
            StoredMessage(payload: Array("[\"dm\",{\"_placeholder\":true,\"num\":0}]".utf8), attachments: [[0, 1, 2], [], [255]], timeMilliseconds: 1_700_000_000_123),
            StoredMessage(payload: [], timeMilliseconds: -5),
            StoredMessage(payload: Array("[\"ünïcødé 🚀\"]".utf8), attachments: [Array(repeating: 7, count: 70_000)], timeMilliseconds: 0),
        ]
        try await ReliableFixture.with(kind) { fixture async throws in
            let outcomes = try await fixture.store.commit(messages.map { .enqueue(alice, $0, bounds: QueueBounds(), origin: nil) }, now: 0)
            let queued = try await fixture.store.messages(in: alice, after: 0, limit: 10)
            #expect(queued == zip(outcomes.compactMap(\.sequence), messages).map { QueuedMessage(sequence: $0, message: $1) })
            try await fixture.restart()
            #expect(try await fixture.store.messages(in: alice, after: 0, limit: 10) == queued)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func neverReusesASequenceAfterTheNewestMessageLeftAndARestart(kind: StoreKind) async throws {
        try await ReliableFixture.with(kind) { fixture async throws in
            try await fixture.store.register("phone")
            _ = try await fixture.store.enqueue("first")
            let newest = try #require(try await fixture.store.enqueue("second").sequence)
            try await fixture.store.acknowledge("phone", through: newest)
            #expect(try await fixture.store.state(of: alice).messages == 0)
            try await fixture.restart()
            let next = try #require(try await fixture.store.enqueue("third", to: bob).sequence)
            #expect(next > newest)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func refusesAMessageBeyondTheBoundsAndKeepsNothing(kind: StoreKind) async throws {
        let bounds = QueueBounds(maxMessages: 2, maxBytes: 10, overflow: .refuse)
        try await ReliableFixture.with(kind) { fixture async throws in
            let store = fixture.store
            let first = try #require(try await store.enqueue("1234", time: 10, bounds: bounds).sequence)
            _ = try await store.enqueue("5678", time: 20, bounds: bounds)
            let full = UserQueueState(messages: 2, bytes: 8, oldestSequence: first, oldestTimeMilliseconds: 10)
            #expect(try await store.enqueue("9", bounds: bounds, origin: "key.0") == .queueFull(full))
            #expect(try await store.texts() == ["1234", "5678"])
            // Bytes: room for one more message, not for seven more bytes.
            try await store.register("phone")
            try await store.acknowledge("phone", through: first)
            #expect(try await store.enqueue("abcdefg", bounds: bounds) == .queueFull(UserQueueState(
                messages: 1, bytes: 4, oldestSequence: first + 1, oldestTimeMilliseconds: 20, devices: 1
            )))
            // The refused emit left no origin behind.
            let accepted = try await store.enqueue("9", bounds: bounds, origin: "key.0")
            #expect(accepted.sequence.map { $0 > first + 1 } == true)
            #expect(try await store.state(of: alice).dropped == 0)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func dropsTheOldestToMakeRoomAndCountsThem(kind: StoreKind) async throws {
        let bounds = QueueBounds(maxMessages: 3, maxBytes: 10, overflow: .dropOldest)
        try await ReliableFixture.with(kind) { fixture async throws in
            let store = fixture.store
            var sequences: [UInt64] = []
            for text in ["aaa", "bbb", "cc"] { sequences.append(try #require(try await store.enqueue(text, bounds: bounds).sequence)) }
            // The count: one goes.
            let fourth = try await store.enqueue("d", bounds: bounds)
            #expect(fourth == .enqueued(sequence: try #require(fourth.sequence), dropped: 1, duplicate: false))
            #expect(try await store.texts() == ["bbb", "cc", "d"])
            // The bytes: 6 + 9 > 10, so "bbb" and "cc" go, "d" stays.
            let fifth = try await store.enqueue("eeeeeeeee", bounds: bounds)
            #expect(fifth == .enqueued(sequence: try #require(fifth.sequence), dropped: 2, duplicate: false))
            #expect(try await store.texts() == ["d", "eeeeeeeee"])
            let state = try await store.state(of: alice)
            #expect(state == UserQueueState(messages: 2, bytes: 10, oldestSequence: fourth.sequence, oldestTimeMilliseconds: 0, dropped: 3))
        }
    }

    @Test(arguments: StoreKind.allCases, [QueueBounds.Overflow.refuse, .dropOldest])
    func refusesAMessageLargerThanTheBytesBound(kind: StoreKind, overflow: QueueBounds.Overflow) async throws {
        let bounds = QueueBounds(maxMessages: 10, maxBytes: 4, overflow: overflow)
        try await ReliableFixture.with(kind) { fixture async throws in
            let kept = try #require(try await fixture.store.enqueue("ok", time: 3, bounds: bounds).sequence)
            let outcome = try await fixture.store.enqueue("too large", bounds: bounds)
            #expect(outcome == .queueFull(UserQueueState(messages: 1, bytes: 2, oldestSequence: kept, oldestTimeMilliseconds: 3)))
            #expect(try await fixture.store.texts() == ["ok"])
            #expect(try await fixture.store.enqueue("huge", to: bob, bounds: QueueBounds(maxBytes: 3, overflow: overflow)) == .queueFull(UserQueueState()))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func appliesEachOperationOfABatchInOrderAndRefusesOnlyWhatDoesNotFit(kind: StoreKind) async throws {
        let bounds = QueueBounds(maxMessages: 1)
        try await ReliableFixture.with(kind) { fixture async throws in
            let outcomes = try await fixture.store.commit([
                .enqueue(alice, message("a1"), bounds: bounds, origin: nil),
                .enqueue(alice, message("a2"), bounds: bounds, origin: nil),
                .registerDevice(alice, device: "phone"),
                .enqueue(bob, message("b1"), bounds: bounds, origin: nil),
                .appendToRoom(lobby, message("hello"), maxMessages: 10),
            ], now: 0)
            let first = try #require(outcomes[0].sequence)
            #expect(outcomes[1] == .queueFull(UserQueueState(messages: 1, bytes: 2, oldestSequence: first, oldestTimeMilliseconds: 0)))
            #expect(outcomes[2] == .applied)
            #expect(outcomes[3].sequence.map { $0 > first } == true)
            #expect(outcomes[4] == .appended(offset: 1))
            #expect(try await fixture.store.texts() == ["a1"])
            #expect(try await fixture.store.position(of: "phone", in: alice) == 0)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func removesAMessageOnceEveryKnownDeviceAcknowledgedIt(kind: StoreKind) async throws {
        try await ReliableFixture.with(kind) { fixture async throws in
            let store = fixture.store
            try await store.register("phone")
            try await store.register("laptop")
            var sequences: [UInt64] = []
            for text in ["1", "2", "3"] { sequences.append(try #require(try await store.enqueue(text).sequence)) }
            try await store.acknowledge("phone", through: sequences[1])
            #expect(try await store.sequences() == sequences)
            try await store.acknowledge("laptop", through: sequences[0])
            #expect(try await store.sequences() == Array(sequences[1...]))
            try await store.acknowledge("laptop", through: sequences[2])
            #expect(try await store.sequences() == [sequences[2]])
            #expect(try await store.position(of: "phone", in: alice) == sequences[1])
            #expect(try await store.position(of: "laptop", in: alice) == sequences[2])
            #expect(try await store.state(of: alice) == UserQueueState(messages: 1, bytes: 1, oldestSequence: sequences[2], oldestTimeMilliseconds: 0, devices: 2))
            // Out of order: an older acknowledgement never moves a position back.
            try await store.acknowledge("laptop", through: sequences[0])
            #expect(try await store.position(of: "laptop", in: alice) == sequences[2])
            try await store.acknowledge("phone", through: sequences[2])
            #expect(try await store.sequences() == [])
            #expect(try await store.state(of: alice).dropped == 0)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func keepsTheMessagesOfAQueueWithoutKnownDevices(kind: StoreKind) async throws {
        try await ReliableFixture.with(kind) { fixture async throws in
            let sequence = try #require(try await fixture.store.enqueue("waiting").sequence)
            #expect(try await fixture.store.position(of: "phone", in: alice) == nil)
            #expect(try await fixture.store.state(of: alice).devices == 0)
            try await fixture.restart()
            #expect(try await fixture.store.sequences() == [sequence])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aDeviceRegisteredLaterStartsAtZeroAndGetsEverythingStillQueued(kind: StoreKind) async throws {
        try await ReliableFixture.with(kind) { fixture async throws in
            let store = fixture.store
            try await store.register("phone")
            var sequences: [UInt64] = []
            for text in ["1", "2", "3"] { sequences.append(try #require(try await store.enqueue(text).sequence)) }
            try await store.acknowledge("phone", through: sequences[0])
            try await store.register("laptop")
            #expect(try await store.position(of: "laptop", in: alice) == 0)
            #expect(try await store.sequences(after: 0) == Array(sequences[1...]))
            try await store.acknowledge("phone", through: sequences[2])
            #expect(try await store.sequences() == Array(sequences[1...]))
            // Registering a known device again marks it seen and keeps its position.
            try await store.acknowledge("laptop", through: sequences[1])
            try await store.register("laptop", now: 50)
            #expect(try await store.position(of: "laptop", in: alice) == sequences[1])
            #expect(try await store.sequences() == [sequences[2]])
            #expect(try await store.position(of: "laptop", in: bob) == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func anAcknowledgementFromAnUnknownDeviceMakesItKnownAtItsPosition(kind: StoreKind) async throws {
        try await ReliableFixture.with(kind) { fixture async throws in
            let first = try #require(try await fixture.store.enqueue("1").sequence)
            let second = try #require(try await fixture.store.enqueue("2").sequence)
            try await fixture.store.acknowledge("tablet", through: first)
            #expect(try await fixture.store.position(of: "tablet", in: alice) == first)
            #expect(try await fixture.store.sequences() == [second])
            #expect(try await fixture.store.state(of: alice).devices == 1)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func deduplicatesAnOriginEvenAfterItsMessageLeftAndARestart(kind: StoreKind) async throws {
        try await ReliableFixture.with(kind) { fixture async throws in
            let outcomes = try await fixture.store.commit([
                .enqueue(alice, message("forwarded"), bounds: QueueBounds(), origin: "phone.17#0"),
                .enqueue(alice, message("forwarded"), bounds: QueueBounds(), origin: "phone.17#0"),
                .enqueue(alice, message("second emit"), bounds: QueueBounds(), origin: "phone.17#1"),
            ], now: 0)
            let first = try #require(outcomes[0].sequence)
            #expect(outcomes[0] == .enqueued(sequence: first, dropped: 0, duplicate: false))
            #expect(outcomes[1] == .enqueued(sequence: first, dropped: 0, duplicate: true))
            #expect(outcomes[2].sequence.map { $0 > first } == true)
            #expect(try await fixture.store.texts() == ["forwarded", "second emit"])

            try await fixture.store.acknowledge("phone", through: try #require(outcomes[2].sequence))
            #expect(try await fixture.store.texts() == [])
            #expect(try await fixture.store.enqueue("forwarded", origin: "phone.17#0") == .enqueued(sequence: first, dropped: 0, duplicate: true))
            try await fixture.restart()
            #expect(try await fixture.store.enqueue("forwarded", to: bob, origin: "phone.17#0") == .enqueued(sequence: first, dropped: 0, duplicate: true))
            #expect(try await fixture.store.texts() == [])
            #expect(try await fixture.store.texts(in: bob) == [])
        }
    }
}
