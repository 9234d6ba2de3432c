import ParleySQLite
import ParleyStore

/// A reliable store under test, in a temporary folder of its own, which a test can restart.
final class ReliableFixture {
    let kind: StoreKind
    let directory: TemporaryDirectory
    /// The store; a restart of an SQLite store replaces it.
    private(set) var store: any ReliableStore
    /// The epoch the store answered when it was last opened.
    private(set) var epoch: String

    /// The SQLite store's file.
    var path: String { directory.path("reliable.sqlite") }

    private init(kind: StoreKind, directory: TemporaryDirectory, store: any ReliableStore, epoch: String) {
        self.kind = kind
        self.directory = directory
        self.store = store
        self.epoch = epoch
    }

    /// Runs `body` with a fresh store of `kind`, opened at `now`, then closes it and removes its
    /// files.
    static func with(_ kind: StoreKind, now: Int64 = 0, _ body: (ReliableFixture) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store: any ReliableStore = switch kind {
        case .memory: InMemoryReliableStore()
        case .sqlite: SQLiteReliableStore(path: directory.path("reliable.sqlite"))
        }
        let fixture = ReliableFixture(kind: kind, directory: directory, store: store, epoch: try await store.open(now: now))
        do {
            try await body(fixture)
        } catch {
            try? await fixture.store.close() // best effort: the test already failed
            throw error
        }
        try await fixture.store.close()
    }

    /// Restarts the server: closes the store and opens it again — the same instance for the
    /// memory store, a new one on the same file for SQLite.
    func restart(now: Int64 = 0) async throws {
        try await store.close()
        if kind == .sqlite { store = SQLiteReliableStore(path: path) }
        epoch = try await store.open(now: now)
    }
}

let alice = UserQueue(namespace: "/", user: "alice")
let bob = UserQueue(namespace: "/", user: "bob")
let lobby = RoomKey(namespace: "/", room: "lobby")

/// A message whose payload is `text`.
func message(_ text: String, time: Int64 = 0, attachments: [[UInt8]] = []) -> StoredMessage {
    StoredMessage(payload: Array(text.utf8), attachments: attachments, timeMilliseconds: time)
}

extension ReliableStore {
    /// Commits one operation and returns its outcome.
    func commit(_ operation: ReliableOperation, now: Int64 = 0) async throws -> ReliableOutcome {
        let outcomes = try await commit([operation], now: now)
        guard outcomes.count == 1 else { throw StoreError(.ioFailure, detail: "\(outcomes.count) outcomes for one operation") }
        return outcomes[0]
    }

    /// Enqueues the message `text` for `queue`.
    func enqueue(
        _ text: String,
        to queue: UserQueue = alice,
        time: Int64 = 0,
        bounds: QueueBounds = QueueBounds(),
        origin: String? = nil,
        now: Int64 = 0
    ) async throws -> ReliableOutcome {
        try await commit(.enqueue(queue, message(text, time: time), bounds: bounds, origin: origin), now: now)
    }

    /// Acknowledges `queue` through `sequence` for `device`.
    func acknowledge(_ device: String, in queue: UserQueue = alice, through sequence: UInt64, now: Int64 = 0) async throws {
        _ = try await commit(.acknowledge(queue, device: device, through: sequence), now: now)
    }

    /// Makes `device` known or marks it seen.
    func register(_ device: String, in queue: UserQueue = alice, now: Int64 = 0) async throws {
        _ = try await commit(.registerDevice(queue, device: device), now: now)
    }

    /// Appends the message `text` to `room` and returns its offset.
    func append(_ text: String, to room: RoomKey = lobby, time: Int64 = 0, maxMessages: Int = 10_000) async throws -> UInt64? {
        try await commit(.appendToRoom(room, message(text, time: time), maxMessages: maxMessages)).offset
    }

    /// The sequences of the messages of `queue` after `sequence`.
    func sequences(in queue: UserQueue = alice, after sequence: UInt64 = 0) async throws -> [UInt64] {
        try await messages(in: queue, after: sequence, limit: .max).map(\.sequence)
    }

    /// The payloads, as text, of the messages of `queue`.
    func texts(in queue: UserQueue = alice) async throws -> [String] {
        try await messages(in: queue, after: 0, limit: .max).map { String(decoding: $0.message.payload, as: UTF8.self) }
    }
}

extension ReliableOutcome {
    /// The sequence of an ``enqueued(sequence:dropped:duplicate:)`` outcome.
    var sequence: UInt64? {
        if case .enqueued(let sequence, _, _) = self { sequence } else { nil }
    }

    /// The offset of an ``appended(offset:)`` outcome.
    var offset: UInt64? {
        if case .appended(let offset) = self { offset } else { nil }
    }
}

extension HistoryPage {
    /// The offsets of the page's messages.
    var offsets: [UInt64] { messages.map(\.offset) }
}
