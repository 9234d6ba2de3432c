import Foundation
import GRDB
@_spi(Testing) import ParleySQLite
import ParleyStore
import Testing

/// What only a reliable store in a file does: survive crashes, fill up, and refuse files it
/// must not use.
@Suite("SQLite reliable store")
struct SQLiteReliableStoreTests {
    @Test func aFullDatabaseRefusesTheCommitAndKeepsWhatWasCommittedBefore() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("reliable.sqlite")
        let capped = SQLiteReliableStore.Configuration(maxPageCount: 48)
        let store = SQLiteReliableStore(path: path, configuration: capped)
        _ = try await store.open(now: 0)
        try await store.register("phone")
        let payload = String(repeating: "x", count: 3_000)
        var committed: [UInt64] = []
        var failure: StoreError?
        for batch in 0..<100 {
            let operations = (0..<4).map { index in
                ReliableOperation.enqueue(alice, message("\(batch).\(index) \(payload)"), bounds: QueueBounds(), origin: "\(batch).\(index)")
            }
            do {
                committed += try await store.commit(operations + [.appendToRoom(lobby, message("\(batch)"), maxMessages: 1_000)], now: 0).compactMap(\.sequence)
            } catch let error as StoreError {
                failure = error
                break
            }
        }
        let error = try #require(failure)
        #expect(error.code == .full)
        #expect(error.path == path)
        #expect(!committed.isEmpty)
        let rooms = UInt64(committed.count / 4)
        try await expectIntact(store, sequences: committed, roomMessages: rooms)
        // Freeing space lets commits through again; nothing of the failed batch was kept, its
        // origins included.
        try await store.acknowledge("phone", through: committed[committed.count / 2])
        let retried = try await store.enqueue("retry", origin: "\(rooms).0")
        #expect(retried == .enqueued(sequence: try #require(retried.sequence), dropped: 0, duplicate: false))
        #expect(try #require(retried.sequence) > committed.last!)
        try await store.close()

        let reopened = SQLiteReliableStore(path: path, configuration: capped)
        _ = try await reopened.open(now: 0)
        let kept = Array(committed[(committed.count / 2 + 1)...])
        #expect(try await reopened.sequences().prefix(kept.count) == kept[...])
        #expect(try await reopened.history(of: lobby, after: nil, limit: 1_000, newest: false).latest == rooms)
        try await reopened.close()
    }

    private func expectIntact(_ store: SQLiteReliableStore, sequences: [UInt64], roomMessages: UInt64) async throws {
        #expect(try await store.sequences() == sequences)
        let state = try await store.state(of: alice)
        #expect(state.messages == sequences.count)
        #expect(state.oldestSequence == sequences.first)
        let history = try await store.history(of: lobby, after: nil, limit: 1_000, newest: false)
        #expect(history.offsets == Array(1...roomMessages))
    }

    @Test func aCrashLosesNoCommitAndNeverReusesASequence() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("reliable.sqlite")
        // The crashed process keeps its connections: nothing it did after its commit matters.
        let crashed = SQLiteReliableStore(path: path)
        let epoch = try await crashed.open(now: 0)
        try await crashed.register("phone")
        let sequence = try #require(try await crashed.enqueue("before the crash").sequence)
        try await crashed.acknowledge("phone", through: sequence)
        _ = try await crashed.append("said")
        crashed.releaseLockAsIfCrashed()

        let restarted = SQLiteReliableStore(path: path)
        #expect(try await restarted.open(now: 10) == epoch)
        #expect(try await restarted.position(of: "phone", in: alice) == sequence)
        #expect(try await restarted.enqueue("after").sequence.map { $0 > sequence } == true)
        #expect(try await restarted.append("said again") == 2)
        try await restarted.close()
        try await crashed.close()
    }

    @Test func aSecondStoreCannotOpenAFileInUse() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("reliable.sqlite")
        let first = SQLiteReliableStore(path: path)
        _ = try await first.open(now: 0)
        let error = await #expect(throws: StoreError.self) { try await SQLiteReliableStore(path: path).open(now: 0) }
        #expect(error?.code == .inUse)
        // Opening the open store again is fine.
        _ = try await first.open(now: 0)
        try await first.close()
        let second = SQLiteReliableStore(path: path)
        _ = try await second.open(now: 0)
        try await second.close()
    }

    @Test func refusesAFileOfANewerSchemaWithoutChangingIt() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("reliable.sqlite")
        let original = SQLiteReliableStore(path: path)
        _ = try await original.open(now: 0)
        _ = try await original.enqueue("kept")
        try await original.close()
        let queue = try DatabaseQueue(path: path)
        let applied = try await queue.read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations") }
        #expect(applied == ["reliable-v1"])
        try await queue.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('reliable-v99')") }
        try queue.close()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))

        let error = await #expect(throws: StoreError.self) { try await SQLiteReliableStore(path: path).open(now: 0) }
        #expect(error?.code == .newerSchema)
        #expect(error?.path == path)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytes)
    }

    @Test func refusesTheFileOfARecoveryStoreAndTheRecoveryStoreRefusesItsFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let recoveryPath = directory.path("recovery.sqlite")
        let recovery = SQLiteRecoveryStore(path: recoveryPath)
        _ = try await recovery.open(now: 0)
        try await recovery.close()
        let asReliable = await #expect(throws: StoreError.self) { try await SQLiteReliableStore(path: recoveryPath).open(now: 0) }
        #expect(asReliable?.code == .corrupt)

        let reliablePath = directory.path("reliable.sqlite")
        let reliable = SQLiteReliableStore(path: reliablePath)
        _ = try await reliable.open(now: 0)
        try await reliable.close()
        let asRecovery = await #expect(throws: StoreError.self) { try await SQLiteRecoveryStore(path: reliablePath).open(now: 0) }
        #expect(asRecovery?.code == .corrupt)
    }

    @Test func commitsWithFullDurability() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = SQLiteReliableStore(path: directory.path("reliable.sqlite"), configuration: .init(durability: .full))
        _ = try await store.open(now: 0)
        let sequence = try #require(try await store.enqueue("durable").sequence)
        #expect(try await store.sequences() == [sequence])
        try await store.close()
    }
}
