import Foundation
import GRDB
import NIOCore
@_spi(Testing) import ParleySQLite
import ParleyStore
import Testing

/// What only a store in a file does: survive restarts, migrate, and refuse files it must not use.
@Suite("SQLite recovery store")
struct SQLiteRecoveryStoreTests {
    @Test func reopeningTheFileIsARestart() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("recovery.sqlite")
        let first = SQLiteRecoveryStore(path: path)
        let before = try await first.open(now: 1_000)
        try await first.commit(RecoveryBatch(
            entries: [entry(1, rooms: ["r"]), entry(2), entry(3, namespace: "/admin")],
            sessions: [session("connected", disconnectedAt: nil), session("left", disconnectedAt: 500)]
        ))
        try await first.close()

        let second = SQLiteRecoveryStore(path: path)
        let after = try await second.open(now: 2_000)
        #expect(after.epoch == before.epoch)
        #expect(after.nextSequence >= 3 + (1 << 32))
        #expect(try await second.replayAll(rooms: ["r"]).sequences == [1, 2])
        #expect(try await second.replayAll(namespace: "/admin").sequences == [3])
        #expect(try await second.takeSession(pid: "connected") == session("connected", disconnectedAt: 2_000))
        #expect(try await second.takeSession(pid: "left") == session("left", disconnectedAt: 500))
        try await second.close()
    }

    @Test func aCrashLosesNoCommitAndNeverReusesASequence() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("recovery.sqlite")
        // The crashed process keeps its connections: nothing it did after its commit matters.
        let crashed = SQLiteRecoveryStore(path: path)
        #expect(try await crashed.open(now: 0).nextSequence == 1)
        try await crashed.commit(RecoveryBatch(entries: [entry(1), entry(2)], sessions: [session("p", disconnectedAt: nil)]))
        crashed.releaseLockAsIfCrashed()

        let restarted = SQLiteRecoveryStore(path: path)
        let second = try await restarted.open(now: 70)
        #expect(second.nextSequence == 2 + (1 << 32))
        #expect(try await restarted.replayAll().sequences == [1, 2])
        try await restarted.close()

        // A process that handed out sequences but committed none still moves the next one up.
        let again = SQLiteRecoveryStore(path: path)
        let third = try await again.open(now: 80)
        #expect(third.nextSequence == second.nextSequence + (1 << 32))
        #expect(try await again.takeSession(pid: "p")?.disconnectedAtMilliseconds == 70)
        try await again.close()
        try await crashed.close()
    }

    @Test func aSecondProcessCannotOpenAStoreInUse() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("recovery.sqlite")
        let first = SQLiteRecoveryStore(path: path)
        _ = try await first.open(now: 0)
        let error = await #expect(throws: StoreError.self) { try await SQLiteRecoveryStore(path: path).open(now: 0) }
        #expect(error?.code == .inUse)
        try await first.close()
        // Closed: the file is free again.
        let second = SQLiteRecoveryStore(path: path)
        _ = try await second.open(now: 0)
        try await second.close()
    }

    @Test func migratesAnEmptyFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("recovery.sqlite")
        #expect(FileManager.default.createFile(atPath: path, contents: Data()))
        let store = SQLiteRecoveryStore(path: path)
        #expect(try await store.open(now: 0).nextSequence == 1)
        try await store.commit(RecoveryBatch(entries: [entry(1)]))
        #expect(try await store.replayAll().sequences == [1])
        try await store.close()
        let queue = try DatabaseQueue(path: path)
        let applied = try await queue.read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations") }
        try queue.close()
        #expect(applied == ["v1"])
    }

    @Test func createsTheMissingFolders() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = SQLiteRecoveryStore(path: directory.path("a/b/recovery.sqlite"))
        #expect(try await store.open(now: 0).nextSequence == 1)
        try await store.close()
    }

    @Test func refusesAFileOfANewerSchemaWithoutChangingIt() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("recovery.sqlite")
        let original = SQLiteRecoveryStore(path: path)
        _ = try await original.open(now: 0)
        try await original.commit(RecoveryBatch(entries: [entry(1)]))
        try await original.close()
        let queue = try DatabaseQueue(path: path)
        try await queue.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')") }
        try queue.close()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))

        let error = await #expect(throws: StoreError.self) { try await SQLiteRecoveryStore(path: path).open(now: 0) }
        #expect(error?.code == .newerSchema)
        #expect(error?.path == path)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytes)
    }

    @Test func refusesAFileThatIsNotADatabase() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("recovery.sqlite")
        var generator = SystemRandomNumberGenerator()
        let garbage = Data((0..<8192).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        try garbage.write(to: URL(fileURLWithPath: path))

        let error = await #expect(throws: StoreError.self) { try await SQLiteRecoveryStore(path: path).open(now: 0) }
        #expect(error?.code == .corrupt)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == garbage)
    }

    @Test func refusesADatabaseOfAnotherApplication() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("other.sqlite")
        let queue = try DatabaseQueue(path: path)
        try await queue.write { try $0.execute(sql: "CREATE TABLE customer (id INTEGER PRIMARY KEY)") }
        try queue.close()

        let error = await #expect(throws: StoreError.self) { try await SQLiteRecoveryStore(path: path).open(now: 0) }
        #expect(error?.code == .corrupt)
    }

    @Test func refusesAPathWhoseFolderCannotBeCreated() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let blocker = directory.path("regular-file")
        #expect(FileManager.default.createFile(atPath: blocker, contents: Data("x".utf8)))

        let error = await #expect(throws: StoreError.self) {
            try await SQLiteRecoveryStore(path: blocker + "/folder/recovery.sqlite").open(now: 0)
        }
        #expect(error?.code == .cannotOpen)
    }

    @Test func refusesUseBeforeOpenAndAfterClose() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = SQLiteRecoveryStore(path: directory.path("recovery.sqlite"))
        let early = await #expect(throws: StoreError.self) { try await store.commit(RecoveryBatch(entries: [entry(1)])) }
        #expect(early?.code == .notOpen)
        _ = try await store.open(now: 0)
        try await store.close()
        let late = await #expect(throws: StoreError.self) { try await store.replayAll() }
        #expect(late?.code == .notOpen)
    }

    @Test func appliesABatchWhollyOrNotAtAll() async throws {
        try await withStore(.sqlite) { store, _ in
            try await store.commit(RecoveryBatch(entries: [entry(1)]))
            // Sequence 1 again: the primary key refuses it, and the whole batch goes.
            await #expect(throws: StoreError.self) {
                try await store.commit(RecoveryBatch(entries: [entry(2), entry(1)], sessions: [session("p", disconnectedAt: 1)]))
            }
            #expect(try await store.replayAll().sequences == [1])
            #expect(try await store.takeSession(pid: "p") == nil)
        }
    }

    @Test func commitsWithFullDurability() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("recovery.sqlite")
        let store = SQLiteRecoveryStore(path: path, configuration: .init(durability: .full))
        _ = try await store.open(now: 0)
        try await store.commit(RecoveryBatch(entries: [entry(1)]))
        #expect(try await store.replayAll().sequences == [1])
        try await store.close()
    }
}
