import ArgumentParser
import Foundation

/// The two peers of the reliable-delivery chaos test (`Tests/ParleyClientTests/ReliableChaosTests.swift`):
/// a server with reliable delivery on an SQLite file, and a client with a durable outbox that
/// sends numbered messages to other clients through it and writes down what it receives. The
/// test kills and restarts them and cuts their connections; each peer reports on stdout as JSON
/// lines.
@main
struct ReliableChaos: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Peers of the reliable-delivery chaos test.",
        subcommands: [ChaosServer.self, ChaosClient.self]
    )
}

/// Writes one JSON line to stdout at once.
func announce(_ fields: [String: any Sendable]) {
    var object: [String: Any] = [:]
    for (key, value) in fields { object[key] = value }
    guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}
