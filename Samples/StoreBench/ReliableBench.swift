import Foundation
import ParleySQLite
import ParleyStore

/// Measures how many enqueues per second each reliable store commits, in batches of a fixed
/// size spread round-robin over many users' queues — the shape of a group commit of a busy
/// server — without and with an origin on every message.
enum ReliableBench {
    static func run(enqueues: Int, batchSize: Int, users: Int, directory: URL) async throws {
        print("\(enqueues) enqueues of \(makeMessage(0).byteCount)-byte messages to \(users) users, batches of \(batchSize)")
        let stores: [(String, @Sendable (String) -> any ReliableStore)] = [
            ("memory", { _ in InMemoryReliableStore() }),
            ("sqlite normal", { SQLiteReliableStore(path: $0, configuration: .init(durability: .normal)) }),
            ("sqlite full", { SQLiteReliableStore(path: $0, configuration: .init(durability: .full)) }),
        ]
        for (index, (name, makeStore)) in stores.enumerated() {
            var columns: [String] = []
            for withOrigins in [false, true] {
                let store = makeStore(directory.appendingPathComponent("reliable-\(index)-\(withOrigins).sqlite").path)
                let rate = try await directBatches(store, enqueues: enqueues, batchSize: batchSize, users: users, withOrigins: withOrigins)
                columns.append("\(StoreBench.format(rate.wall)) /s (\(StoreBench.format(rate.cpu)) per CPU second)")
            }
            print("\(name.padding(toLength: 14, withPad: " ", startingAt: 0)) enqueues: \(columns[0])   with origins: \(columns[1])")
        }
    }

    /// Enqueues committed in batches of `batchSize`, one after the other, per second of wall
    /// time and per second of the process's CPU time (steadier on a shared machine).
    static func directBatches(_ store: any ReliableStore, enqueues: Int, batchSize: Int, users: Int, withOrigins: Bool) async throws -> (wall: Double, cpu: Double) {
        _ = try await store.open(now: 0)
        let queues = (0..<users).map { UserQueue(namespace: "/", user: "user-\($0)") }
        let batches = stride(from: 0, to: enqueues, by: batchSize).map { start in
            (start..<min(start + batchSize, enqueues)).map { index in
                ReliableOperation.enqueue(queues[index % users], makeMessage(index), bounds: QueueBounds(), origin: withOrigins ? "origin.\(index)" : nil)
            }
        }
        let start = ContinuousClock.now
        let startCPU = processCPUSeconds()
        for batch in batches { _ = try await store.commit(batch, now: 0) }
        let elapsed = ContinuousClock.now - start
        let cpu = processCPUSeconds() - startCPU
        let state = try await store.state(of: queues[0])
        guard state.messages == (enqueues + users - 1) / users else {
            throw BenchFailure(description: "the first queue holds \(state.messages) messages")
        }
        try await store.close()
        return (Double(enqueues) / elapsed.inSeconds, Double(enqueues) / cpu)
    }

    /// The CPU time the process has used, all threads together.
    static func processCPUSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    static func makeMessage(_ index: Int) -> StoredMessage {
        var payload = Array("[\"dm\",{\"from\":\"bob\",\"text\":\"message \(index % 1_000_000) ".utf8)
        payload += repeatElement(UInt8(ascii: "."), count: 97 - payload.count)
        payload += Array("\"}]".utf8)
        return StoredMessage(payload: payload, timeMilliseconds: 1_700_000_000_000 + Int64(index / 100))
    }
}
