import Foundation
import NIOCore
import ParleySQLite
import ParleyStore

/// Measures how many recovery-log entries per second reach each store: through a
/// ``RecoveryLog`` fed from two tasks (group commit), and in direct batches of a fixed size.
///
/// Usage: `swift run -c release StoreBench [entries] [batch size]` (defaults 200000, 4000);
/// `swift run -c release StoreBench reliable [enqueues] [batch size] [users]` measures the
/// reliable stores instead (``ReliableBench``).
@main
struct StoreBench {
    static func main() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-store-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) } // best effort: a temporary folder
        let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
        if CommandLine.arguments.dropFirst().first == "reliable" {
            try await ReliableBench.run(
                enqueues: arguments.first ?? 200_000,
                batchSize: arguments.dropFirst().first ?? 1_000,
                users: arguments.dropFirst(2).first ?? 10_000,
                directory: directory
            )
            return
        }
        let count = arguments.first ?? 200_000
        let batchSize = arguments.dropFirst().first ?? 4_000

        print("\(count) entries of \(makeEntry(1).packet.readableBytes)-byte packets")
        let stores: [(String, @Sendable (String) -> any RecoveryStore)] = [
            ("memory", { _ in InMemoryRecoveryStore() }),
            ("sqlite normal", { SQLiteRecoveryStore(path: $0, configuration: .init(durability: .normal)) }),
            ("sqlite full", { SQLiteRecoveryStore(path: $0, configuration: .init(durability: .full)) }),
        ]
        for (index, (name, makeStore)) in stores.enumerated() {
            let logStore = makeStore(directory.appendingPathComponent("log-\(index).sqlite").path)
            let viaLog = try await throughLog(logStore, count: count)
            let batchStore = makeStore(directory.appendingPathComponent("batch-\(index).sqlite").path)
            let direct = try await directBatches(batchStore, count: count, batchSize: batchSize)
            print("\(name.padding(toLength: 14, withPad: " ", startingAt: 0)) RecoveryLog, 2 producers: \(format(viaLog)) entries/s   direct batches of \(batchSize): \(format(direct)) entries/s")
        }
    }

    /// Entries per second from the first append until `flush` returns.
    static func throughLog(_ store: any RecoveryStore, count: Int) async throws -> Double {
        let log = try await RecoveryLog.open(store: store)
        let elapsed = try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await log.run() }
            defer { log.finish() }
            let start = ContinuousClock.now
            await withTaskGroup(of: Void.self) { producers in
                for _ in 0..<2 {
                    producers.addTask {
                        for _ in 0..<(count / 2) { log.append(makeEntry(log.nextSequence())) }
                    }
                }
            }
            try await log.flush()
            let elapsed = ContinuousClock.now - start
            // Before `finish`: once the writer ends, it closes the store.
            try await check(store, holds: count / 2 * 2)
            return elapsed
        }
        return Double(count / 2 * 2) / elapsed.inSeconds
    }

    /// Entries per second committed in batches of `batchSize`, one after the other.
    static func directBatches(_ store: any RecoveryStore, count: Int, batchSize: Int) async throws -> Double {
        let state = try await store.open(now: 0)
        let batches = stride(from: 0, to: count, by: batchSize).map { start in
            RecoveryBatch(entries: (start..<min(start + batchSize, count)).map { makeEntry(state.nextSequence + UInt64($0)) })
        }
        let start = ContinuousClock.now
        for batch in batches { try await store.commit(batch) }
        let elapsed = ContinuousClock.now - start
        try await check(store, holds: count)
        try await store.close()
        return Double(count) / elapsed.inSeconds
    }

    static func check(_ store: any RecoveryStore, holds count: Int) async throws {
        guard case .entries(let entries) = try await store.replay(namespace: "/", after: 0, rooms: ["room-0"], limit: .max),
              entries.count == (count + 15) / 16
        else { throw BenchFailure(description: "the store does not hold the \(count) entries") }
    }

    static func makeEntry(_ sequence: UInt64) -> LogEntry {
        let text = "2[\"chat\",{\"user\":\"alice\",\"text\":\"message \(sequence % 1_000_000) ......................\"}]"
        return LogEntry(
            sequence: sequence,
            namespace: "/",
            rooms: ["room-\(sequence % 16)"],
            exceptRooms: [],
            packet: ByteBuffer(string: text.padding(toLength: 100, withPad: ".", startingAt: 0)),
            timeMilliseconds: 1_700_000_000_000 + Int64(sequence / 100)
        )
    }

    static func format(_ rate: Double) -> String {
        String(Int(rate.rounded())).padding(toLength: 9, withPad: " ", startingAt: 0)
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
}

extension Duration {
    var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
