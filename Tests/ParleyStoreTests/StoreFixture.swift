import Foundation
import NIOCore
import ParleySQLite
import ParleyStore
import Synchronization
import Testing

/// The stores the shared suites run against.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memory
    case sqlite

    var testDescription: String { rawValue }
}

/// A folder of its own for one test, under the system's temporary folder.
struct TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("parley-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// The path of `name` in the folder.
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    func remove() {
        try? FileManager.default.removeItem(at: url) // best effort: a leftover temporary folder
    }
}

/// Makes a store of `kind` in `directory` (which the SQLite store's file goes to).
func makeStore(_ kind: StoreKind, in directory: TemporaryDirectory) -> any RecoveryStore {
    switch kind {
    case .memory: InMemoryRecoveryStore()
    case .sqlite: SQLiteRecoveryStore(path: directory.path("recovery.sqlite"))
    }
}

/// Runs `body` with a fresh store of `kind`, opened at `now`, then closes it and removes its
/// files.
func withStore(
    _ kind: StoreKind,
    now: Int64 = 0,
    _ body: (any RecoveryStore, RecoveryStoreState) async throws -> Void
) async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let store = makeStore(kind, in: directory)
    let state = try await store.open(now: now)
    do {
        try await body(store, state)
    } catch {
        try? await store.close() // best effort: the test already failed
        throw error
    }
    try await store.close()
}

/// An entry with a recognisable packet (`"packet <sequence>"` unless given).
func entry(
    _ sequence: UInt64,
    namespace: String = "/",
    rooms: [String] = [],
    except: [String] = [],
    packet: String? = nil,
    attachments: [[UInt8]] = [],
    time: Int64 = 0
) -> LogEntry {
    LogEntry(
        sequence: sequence,
        namespace: namespace,
        rooms: rooms,
        exceptRooms: except,
        packet: ByteBuffer(string: packet ?? "packet \(sequence)"),
        attachments: attachments.map { ByteBuffer(bytes: $0) },
        timeMilliseconds: time
    )
}

/// A session of the namespace `/`.
func session(_ pid: String, rooms: [String] = ["lobby"], disconnectedAt: Int64?) -> SessionRecord {
    SessionRecord(pid: pid, socketID: "socket-\(pid)", namespace: "/", rooms: rooms, data: Array("{\"pid\":\"\(pid)\"}".utf8), disconnectedAtMilliseconds: disconnectedAt)
}

extension Replay {
    /// The entries, or `nil` for ``Replay/expired``.
    var entries: [LogEntry]? {
        if case .entries(let entries) = self { entries } else { nil }
    }

    /// The sequences of the entries, or `nil` for ``Replay/expired``.
    var sequences: [UInt64]? { entries?.map(\.sequence) }
}

extension RecoveryStore {
    /// Everything of `namespace` after `sequence` for a socket in `rooms`, without a limit.
    func replayAll(namespace: String = "/", after sequence: UInt64 = 0, rooms: Set<String> = []) async throws -> Replay {
        try await replay(namespace: namespace, after: sequence, rooms: rooms, limit: .max)
    }
}

/// A clock that moves only when told to.
final class TestClock: Sendable {
    private let milliseconds: Mutex<Int64>

    init(_ start: Int64 = 1_000_000) { milliseconds = Mutex(start) }

    var now: Int64 { milliseconds.withLock { $0 } }

    func advance(by duration: Duration) {
        let (seconds, attoseconds) = duration.components
        milliseconds.withLock { $0 += seconds * 1000 + attoseconds / 1_000_000_000_000_000 }
    }
}
