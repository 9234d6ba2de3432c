import ParleyStore
import Testing

/// The semantics of room histories that every ``ReliableStore`` keeps, run against each
/// implementation.
@Suite("Reliable stores: room histories")
struct ReliableStoreRoomTests {
    @Test(arguments: StoreKind.allCases)
    func numbersEachRoomsMessagesFromOne(kind: StoreKind) async throws {
        try await ReliableFixture.with(kind) { fixture async throws in
            let store = fixture.store
            let other = RoomKey(namespace: "/", room: "other")
            let elsewhere = RoomKey(namespace: "/admin", room: "lobby")
            let outcomes = try await store.commit([
                .appendToRoom(lobby, message("l1"), maxMessages: 10),
                .appendToRoom(other, message("o1"), maxMessages: 10),
                .appendToRoom(lobby, message("l2"), maxMessages: 10),
                .appendToRoom(elsewhere, message("e1"), maxMessages: 10),
            ], now: 0)
            #expect(outcomes == [.appended(offset: 1), .appended(offset: 1), .appended(offset: 2), .appended(offset: 1)])
            let page = try await store.history(of: lobby, after: nil, limit: 10, newest: false)
            #expect(page.messages == [HistoryMessage(offset: 1, message: message("l1")), HistoryMessage(offset: 2, message: message("l2"))])
            #expect((page.latest, page.oldestKept, page.truncated) == (2, 1, false))
            #expect(try await store.history(of: elsewhere, after: nil, limit: 10, newest: false).offsets == [1])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func answersAnEmptyPageForARoomWithoutHistory(kind: StoreKind) async throws {
        try await ReliableFixture.with(kind) { fixture async throws in
            let empty = HistoryPage(messages: [], latest: 0, oldestKept: 1, truncated: false)
            #expect(try await fixture.store.history(of: lobby, after: nil, limit: 10, newest: false) == empty)
            #expect(try await fixture.store.history(of: lobby, after: nil, limit: 10, newest: true) == empty)
            #expect(try await fixture.store.history(of: lobby, after: 0, limit: 10, newest: false) == empty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func pagesTheHistoryAfterAnOffset(kind: StoreKind) async throws {
        try await ReliableFixture.with(kind) { fixture async throws in
            let store = fixture.store
            for index in 1...5 { _ = try await store.append("m\(index)", time: Int64(index)) }
            #expect(try await store.history(of: lobby, after: nil, limit: 2, newest: false).offsets == [1, 2])
            #expect(try await store.history(of: lobby, after: 0, limit: 2, newest: false).offsets == [1, 2])
            #expect(try await store.history(of: lobby, after: 2, limit: 2, newest: false).offsets == [3, 4])
            #expect(try await store.history(of: lobby, after: 4, limit: 2, newest: false).offsets == [5])
            let end = try await store.history(of: lobby, after: 5, limit: 2, newest: false)
            #expect(end == HistoryPage(messages: [], latest: 5, oldestKept: 1, truncated: false))
            #expect(try await store.history(of: lobby, after: 1, limit: 0, newest: false).offsets == [])
            #expect(try await store.history(of: lobby, after: 3, limit: 10, newest: false).messages.map(\.message.timeMilliseconds) == [4, 5])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func readsTheNewestMessagesOldestFirst(kind: StoreKind) async throws {
        try await ReliableFixture.with(kind) { fixture async throws in
            let store = fixture.store
            for index in 1...5 { _ = try await store.append("m\(index)") }
            #expect(try await store.history(of: lobby, after: nil, limit: 2, newest: true).offsets == [4, 5])
            #expect(try await store.history(of: lobby, after: nil, limit: 10, newest: true).offsets == [1, 2, 3, 4, 5])
            // With a position, `newest` does not apply: the page continues from it.
            #expect(try await store.history(of: lobby, after: 1, limit: 2, newest: true).offsets == [2, 3])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func answersAnEmptyPageNotTruncatedForAPositionBeyondTheLatest(kind: StoreKind) async throws {
        try await ReliableFixture.with(kind) { fixture async throws in
            for index in 1...3 { _ = try await fixture.store.append("m\(index)", maxMessages: 2) }
            let page = try await fixture.store.history(of: lobby, after: 40, limit: 10, newest: false)
            #expect(page == HistoryPage(messages: [], latest: 3, oldestKept: 2, truncated: false))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func marksAPageTruncatedWhenTheCountCutMessagesAfterThePosition(kind: StoreKind) async throws {
        try await ReliableFixture.with(kind) { fixture async throws in
            let store = fixture.store
            for index in 1...5 { _ = try await store.append("m\(index)", maxMessages: 3) }
            let cut = try await store.history(of: lobby, after: 1, limit: 10, newest: false)
            #expect((cut.offsets, cut.latest, cut.oldestKept, cut.truncated) == ([3, 4, 5], 5, 3, true))
            #expect(try await store.history(of: lobby, after: 0, limit: 1, newest: false).truncated)
            let continued = try await store.history(of: lobby, after: 2, limit: 10, newest: false)
            #expect((continued.offsets, continued.truncated) == ([3, 4, 5], false))
            let fromStart = try await store.history(of: lobby, after: nil, limit: 10, newest: false)
            #expect((fromStart.offsets, fromStart.truncated) == ([3, 4, 5], false))
            #expect(try await store.append("m6", maxMessages: 0) == 6)
            #expect(try await store.history(of: lobby, after: 5, limit: 10, newest: false) == HistoryPage(messages: [], latest: 6, oldestKept: 7, truncated: true))
            #expect(try await store.history(of: lobby, after: 6, limit: 10, newest: false) == HistoryPage(messages: [], latest: 6, oldestKept: 7, truncated: false))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func marksAPageTruncatedWhenAgeRemovedMessagesAfterThePosition(kind: StoreKind) async throws {
        try await ReliableFixture.with(kind) { fixture async throws in
            let store = fixture.store
            for index in 1...4 { _ = try await store.append("m\(index)", time: Int64(index) * 100) }
            let result = try await store.trim(retention(roomMessagesBefore: 250), now: 1_000)
            #expect(result == ReliableTrimResult(roomMessages: 2))
            let page = try await store.history(of: lobby, after: 1, limit: 10, newest: false)
            #expect((page.offsets, page.latest, page.oldestKept, page.truncated) == ([3, 4], 4, 3, true))
            #expect(try await store.history(of: lobby, after: 2, limit: 10, newest: false).truncated == false)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func trimsARoomOnlyFromItsOldestEndSoThatItsHistoryHasNoHoles(kind: StoreKind) async throws {
        try await ReliableFixture.with(kind) { fixture async throws in
            let store = fixture.store
            for time: Int64 in [100, 500, 200, 600] { _ = try await store.append("at \(time)", time: time) }
            #expect(try await store.trim(retention(roomMessagesBefore: 300), now: 1_000).roomMessages == 1)
            #expect(try await store.history(of: lobby, after: nil, limit: 10, newest: false).offsets == [2, 3, 4])
            #expect(try await store.trim(retention(roomMessagesBefore: 550), now: 1_000).roomMessages == 2)
            #expect(try await store.history(of: lobby, after: nil, limit: 10, newest: false).offsets == [4])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func keepsHistoriesAndOffsetsAcrossARestart(kind: StoreKind) async throws {
        try await ReliableFixture.with(kind) { fixture async throws in
            for index in 1...4 { _ = try await fixture.store.append("m\(index)", maxMessages: 3) }
            let before = try await fixture.store.history(of: lobby, after: nil, limit: 10, newest: false)
            try await fixture.restart()
            #expect(try await fixture.store.history(of: lobby, after: nil, limit: 10, newest: false) == before)
            #expect(try await fixture.store.append("m5", maxMessages: 3) == 5)
            let after = try await fixture.store.history(of: lobby, after: 0, limit: 10, newest: false)
            #expect((after.offsets, after.oldestKept, after.truncated) == ([3, 4, 5], 3, true))
        }
    }
}

/// A retention cut that removes nothing but what is named.
func retention(
    messagesBefore: Int64 = .min,
    devicesSeenBefore: Int64 = .min,
    roomMessagesBefore: Int64 = .min,
    keysBefore: Int64 = .min
) -> ReliableRetention {
    ReliableRetention(messagesBefore: messagesBefore, devicesSeenBefore: devicesSeenBefore, roomMessagesBefore: roomMessagesBefore, keysBefore: keysBefore)
}
