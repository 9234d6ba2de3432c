import ArgumentParser
import Foundation
import Parley
import Synchronization

/// `ReliableBench persist`: reliable emits to many offline users, each returning once
/// committed; many emits share a transaction (group commit).
struct PersistBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "persist", abstract: "Reliable emits persisted per second to offline users.")

    @OptionGroup var options: StoreOptions
    @Option(help: "Distinct offline users, round-robin.") var users = 10_000
    @Option(help: "Reliable emits in total.") var messages = 300_000
    @Option(help: "Emits awaiting their commit at once.") var concurrency = 2_048
    @Option(help: "Bytes of text per message.") var size = 64

    func run() async throws {
        let (store, directory) = try options.makeStore()
        defer { if let directory { try? FileManager.default.removeItem(at: directory) } }  // best effort: a temp dir
        let server = options.makeServer(store)
        try await server.start()
        let text = String(repeating: "m", count: size)
        let next = Counter()
        // Warm-up: the store's caches, the statements.
        for index in 0..<min(users, 1_000) { try await server.user("user-\(index)").reliable.emit("msg", text) }
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    while true {
                        let index = next.take()
                        guard index < messages else { return }
                        try await server.user("user-\(index % users)").reliable.emit("msg", text)
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = ContinuousClock.now - started
        report(String(format: "persist: %d reliable emits to %d offline users in %.2f s = %.0f emits/s (concurrency %d, %@)",
                      messages, users, elapsed.seconds, Double(messages) / elapsed.seconds, concurrency, options.inMemory ? "in memory" : "SQLite"))
        await server.shutdown()
    }
}

/// Hands out 0, 1, 2, … to concurrent tasks.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)

    func take() -> Int { value.wrappingAdd(1, ordering: .relaxed).oldValue }
}
