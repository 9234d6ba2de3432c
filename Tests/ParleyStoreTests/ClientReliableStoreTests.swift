import Foundation
import ParleySQLite
import ParleyStore
import Testing

/// The semantics every ``ClientReliableStore`` keeps, run against each implementation;
/// "reopening" is a new SQLite store on the same file (an app restart), or the same in-memory
/// store closed and opened again.
@Suite("Client reliable stores")
struct ClientReliableStoreTests {
    /// A store of `kind` and the way to reopen it.
    struct Subject {
        let kind: StoreKind
        let directory: TemporaryDirectory
        var store: any ClientReliableStore

        init(_ kind: StoreKind) throws {
            self.kind = kind
            directory = try TemporaryDirectory()
            store = Self.make(kind, directory)
        }

        static func make(_ kind: StoreKind, _ directory: TemporaryDirectory) -> any ClientReliableStore {
            switch kind {
            case .memory: InMemoryClientReliableStore()
            case .sqlite: SQLiteClientReliableStore(path: directory.path("client.sqlite"))
            }
        }

        /// Closes the store and opens it again as a restarted app would.
        mutating func reopen() async throws -> ClientReliableStoreState {
            try await store.close()
            if kind == .sqlite { store = Self.make(kind, directory) }
            return try await store.open()
        }

        func finish() async {
            try? await store.close() // best effort: the folder goes next
            directory.remove()
        }
    }

    /// Runs `body` with a fresh store of `kind`, then closes it and removes its files.
    static func withSubject(_ kind: StoreKind, _ body: (inout Subject) async throws -> Void) async throws {
        var subject = try Subject(kind)
        do {
            try await body(&subject)
        } catch {
            await subject.finish()
            throw error
        }
        await subject.finish()
    }

    static func item(_ sequence: UInt64, namespace: String = "/", attachments: [[UInt8]] = [], time: Int64 = 1_700_000_000_000) -> ClientOutboxItem {
        ClientOutboxItem(
            sequence: sequence,
            key: "device.\(sequence)",
            namespace: namespace,
            payload: Array(#"["send",{"n":\#(sequence)},{"parley":{"key":"device.\#(sequence)"}}]"#.utf8),
            attachments: attachments,
            timeMilliseconds: time + Int64(sequence)
        )
    }

    @Test(arguments: StoreKind.allCases)
    func createsItsDeviceIDOnceAndKeepsIt(kind: StoreKind) async throws {
        try await Self.withSubject(kind) { subject in
            let first = try await subject.store.open()
            #expect(first.deviceID.count == 16)
            #expect(first.deviceID.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber) })
            #expect(first.lastOutboxSequence == 0)
            #expect(try await subject.store.open() == first)
            #expect(try await subject.reopen().deviceID == first.deviceID)

            let other = try Subject(kind)
            #expect(try await other.store.open().deviceID != first.deviceID)
            await other.finish()
        }
    }

    @Test(arguments: StoreKind.allCases)
    func keepsTheOutboxInSequenceOrderPerNamespaceAcrossAReopen(kind: StoreKind) async throws {
        try await Self.withSubject(kind) { subject in
            _ = try await subject.store.open()
            let items = [
                Self.item(1),
                Self.item(2, attachments: [[0, 1, 255], [], Array(repeating: 7, count: 70_000)]),
                Self.item(3),
                Self.item(4, namespace: "/chat"),
            ]
            // Written out of order (two emits racing): listed by sequence.
            for index in [0, 2, 1, 3] { try await subject.store.addToOutbox(items[index]) }
            #expect(try await subject.store.outbox(namespace: "/") == Array(items[0...2]))
            #expect(try await subject.store.outbox(namespace: "/chat") == [items[3]])
            #expect(try await subject.store.outbox(namespace: "/other") == [])

            try await subject.store.removeFromOutbox(key: "device.1")
            try await subject.store.removeFromOutbox(key: "device.404")
            let state = try await subject.reopen()
            #expect(state.lastOutboxSequence == 4)
            #expect(try await subject.store.outbox(namespace: "/") == [items[1], items[2]])
            #expect(try await subject.store.outbox(namespace: "/chat") == [items[3]])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func remembersTheHighestSequenceAfterItsItemLeft(kind: StoreKind) async throws {
        try await Self.withSubject(kind) { subject in
            _ = try await subject.store.open()
            try await subject.store.addToOutbox(Self.item(7))
            try await subject.store.addToOutbox(Self.item(3))
            try await subject.store.removeFromOutbox(key: "device.7")
            try await subject.store.removeFromOutbox(key: "device.3")
            #expect(try await subject.reopen().lastOutboxSequence == 7)
            #expect(try await subject.store.outbox(namespace: "/") == [])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func addingAKeyAgainKeepsTheFirstItem(kind: StoreKind) async throws {
        try await Self.withSubject(kind) { subject in
            _ = try await subject.store.open()
            let first = Self.item(1)
            var again = Self.item(2)
            again.key = first.key
            try await subject.store.addToOutbox(first)
            try await subject.store.addToOutbox(again)
            #expect(try await subject.store.outbox(namespace: "/") == [first])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func keepsTheNewestReceivedIDsPerNamespace(kind: StoreKind) async throws {
        try await Self.withSubject(kind) { subject in
            _ = try await subject.store.open()
            let store = subject.store
            func record(_ id: String, _ namespace: String = "/") async throws -> Bool {
                try await store.recordReceived(id, namespace: namespace, keeping: 3)
            }
            #expect(try await record("e.1"))
            #expect(try await record("e.2"))
            #expect(try await record("e.3"))
            #expect(try await !record("e.1"))
            #expect(try await !record("e.3"))
            // Another namespace has a window of its own.
            #expect(try await record("e.1", "/chat"))
            #expect(try await !record("e.1", "/chat"))
            // A fourth id pushes the oldest out: it counts as new again.
            #expect(try await record("e.4"))
            #expect(try await record("e.1"))
            #expect(try await !record("e.4"))

            _ = try await subject.reopen()
            let reopened = subject.store
            #expect(try await !reopened.recordReceived("e.4", namespace: "/", keeping: 3))
            #expect(try await !reopened.recordReceived("e.1", namespace: "/", keeping: 3))
            #expect(try await !reopened.recordReceived("e.1", namespace: "/chat", keeping: 3))
            #expect(try await reopened.recordReceived("e.2", namespace: "/", keeping: 3))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func remembersRoomPositionsAcrossAReopen(kind: StoreKind) async throws {
        try await Self.withSubject(kind) { subject in
            _ = try await subject.store.open()
            #expect(try await subject.store.roomPosition(namespace: "/", room: "lobby") == nil)
            try await subject.store.setRoomPosition("k3j9x2qa.40", namespace: "/", room: "lobby")
            try await subject.store.setRoomPosition("k3j9x2qa.42", namespace: "/", room: "lobby")
            try await subject.store.setRoomPosition("k3j9x2qa.7", namespace: "/chat", room: "lobby")
            try await subject.store.setRoomPosition("zzzzzzzz.1", namespace: "/", room: "a,b \"quoted\" ünï")
            _ = try await subject.reopen()
            #expect(try await subject.store.roomPosition(namespace: "/", room: "lobby") == "k3j9x2qa.42")
            #expect(try await subject.store.roomPosition(namespace: "/chat", room: "lobby") == "k3j9x2qa.7")
            #expect(try await subject.store.roomPosition(namespace: "/", room: "a,b \"quoted\" ünï") == "zzzzzzzz.1")
            #expect(try await subject.store.roomPosition(namespace: "/", room: "other") == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func refusesToWorkBeforeOpenAndAfterClose(kind: StoreKind) async throws {
        try await Self.withSubject(kind) { subject in
            await #expect { try await subject.store.addToOutbox(Self.item(1)) } throws: { ($0 as? StoreError)?.code == .notOpen }
            _ = try await subject.store.open()
            try await subject.store.close()
            await #expect { try await subject.store.outbox(namespace: "/") } throws: { ($0 as? StoreError)?.code == .notOpen }
        }
    }

    @Test func aSecondSQLiteStoreOnAnOpenFileIsRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("client.sqlite")
        let first = SQLiteClientReliableStore(path: path)
        _ = try await first.open()
        let second = SQLiteClientReliableStore(path: path)
        await #expect { try await second.open() } throws: { ($0 as? StoreError)?.code == .inUse }
        try await first.close()
        _ = try await second.open()
        try await second.close()
    }

    @Test func anSQLiteFileOfAnotherKindIsRefusedAndLeftAlone() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("recovery.sqlite")
        let recovery = SQLiteRecoveryStore(path: path)
        _ = try await recovery.open(now: 0)
        try await recovery.close()
        let client = SQLiteClientReliableStore(path: path)
        await #expect { try await client.open() } throws: { ($0 as? StoreError)?.code == .corrupt }
        // The refusal released the lock file: the recovery store opens its file again.
        _ = try await recovery.open(now: 1)
        try await recovery.close()
    }
}
