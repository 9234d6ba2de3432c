import Foundation
import ParleyTesting
import Testing

/// Reliable delivery in both directions under chaos (`Protocol/reliable.md`): three client
/// processes (`ReliableChaos client`, each with its SQLite outbox) send numbered messages to
/// each other through a server process (`ReliableChaos server`, reliable delivery on an SQLite
/// file), all through a TCP relay. Meanwhile the test keeps SIGKILLing and restarting the
/// server, cutting every connection, and SIGKILLing and restarting one client. The server's
/// handler waits 30 ms between queueing a message and answering, so messages are in flight the
/// whole time and a kill often falls between the two. At the end,
/// every message reached its receiver's application in order per sender, none missing.
@Suite("Reliable delivery under chaos", .serialized)
struct ReliableChaosTests {
    static let users = ["c0", "c1", "c2"]
    /// Messages each client sends, half to each of the two others.
    static let count = 600
    /// The client killed and restarted now and then.
    static let victim = "c2"

    struct Tally {
        var serverRestarts = 0
        var cuts = 0
        var clientRestarts = 0
    }

    @Test(.timeLimit(.minutes(3)))
    func everyAcceptedMessageReachesItsApplicationInOrderThroughKillsAndCuts() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-chaos-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }  // best effort: a temp dir
        let serverStore = directory.appendingPathComponent("server.sqlite").path
        var (server, port) = try await Self.startServer(store: serverStore)
        let proxy = try await TCPProxy.start(upstreamPort: port)
        var clients: [String: PeerProcess] = [:]
        for user in Self.users { clients[user] = try await Self.startClient(user, directory: directory, proxyPort: proxy.port) }

        var tally = Tally()
        var repeatsDropped = 0
        var progress: [Int] = []
        let chaosEnds = ContinuousClock.now.advanced(by: .seconds(30))
        var step = 0
        while ContinuousClock.now < chaosEnds {
            try await Task.sleep(for: .milliseconds(Int.random(in: 700...1_800)))
            switch step % 3 {
            case 0:
                await server.killAndWait()
                (server, port) = try await Self.startServer(store: serverStore)
                proxy.setUpstreamPort(port)
                await proxy.cutAll()
                tally.serverRestarts += 1
            case 1:
                await proxy.cutAll()
                tally.cuts += 1
            default:
                let victim = try #require(clients[Self.victim])
                repeatsDropped += Self.lastStatus(victim)?["repeatsDropped"]?.number.map(Int.init) ?? 0
                await victim.killAndWait()
                clients[Self.victim] = try await Self.startClient(Self.victim, directory: directory, proxyPort: proxy.port)
                tally.clientRestarts += 1
            }
            step += 1
            progress.append(Self.users.reduce(0) { $0 + ((try? Self.received($1, directory: directory).count) ?? 0) })
        }

        // Quiet: everything still queued goes through.
        let expected = Self.count  // each client receives half of each of the two others' messages
        let settled = await eventuallyAsync(timeout: .seconds(60)) {
            Self.users.allSatisfy { user in
                let lines = (try? Self.received(user, directory: directory)) ?? []
                let outbox = clients[user].flatMap { Self.lastStatus($0)?["outbox"]?.number } ?? -1
                return Set(lines.map(\.key)).count >= expected && outbox == 0
            }
        }
        for user in Self.users {
            repeatsDropped += clients[user].flatMap { Self.lastStatus($0)?["repeatsDropped"]?.number.map(Int.init) } ?? 0
        }

        var delivered = 0
        var duplicates: [String: Int] = [:]
        for user in Self.users {
            let lines = try Self.received(user, directory: directory)
            delivered += lines.count
            var seen = Set<String>()
            var firstSeen: [String: [Int]] = [:]
            for line in lines {
                if seen.insert(line.key).inserted {
                    firstSeen[line.from, default: []].append(line.seq)
                } else {
                    duplicates[user, default: 0] += 1
                }
            }
            for sender in Self.users where sender != user {
                // In order per sender, none missing.
                #expect(firstSeen[sender] == Array(0..<(Self.count / 2)), "\(user) from \(sender): \(firstSeen[sender] ?? [])")
            }
        }
        let sent = Self.users.count * Self.count
        print("""
            reliable chaos: sent \(sent), accepted \(settled ? sent : -1) (every outbox empty: \(settled)), \
            delivered to applications \(delivered) (\(delivered - duplicates.values.reduce(0, +)) distinct), \
            repeats dropped by the clients \(repeatsDropped), seen twice by an application \(duplicates), \
            server SIGKILLs and restarts \(tally.serverRestarts), connection cuts \(tally.cuts), \
            client SIGKILLs and restarts \(tally.clientRestarts); delivered after each step: \(progress)
            """)
        #expect(settled, "not every message arrived, or an outbox kept some")
        // Only the client killed in the middle of a handler may see a message again (passed on,
        // not yet recorded when it died): at most once per kill; never the others.
        for user in Self.users where user != Self.victim { #expect(duplicates[user, default: 0] == 0) }
        #expect(duplicates[Self.victim, default: 0] <= tally.clientRestarts)
        #expect(tally.serverRestarts >= 3 && tally.cuts >= 3 && tally.clientRestarts >= 3)

        for client in clients.values { await client.killAndWait() }
        await server.killAndWait()
        await proxy.stop()
    }

    // MARK: Peers

    static func startServer(store: String) async throws -> (PeerProcess, Int) {
        let server = try PeerProcess.sample("ReliableChaos", arguments: ["server", "--port", "0", "--store", store, "--handler-delay", "30"])
        let listening = await server.waitForJSONLine(timeout: .seconds(15)) { $0["event"] == "listening" }
        let port = try #require(listening?["port"]?.number.map(Int.init), "the chaos server did not start: \(server.stderr)")
        return (server, port)
    }

    static func startClient(_ user: String, directory: URL, proxyPort: Int) async throws -> PeerProcess {
        let peers = users.filter { $0 != user }.joined(separator: ",")
        let client = try PeerProcess.sample("ReliableChaos", arguments: [
            "client", "--url", "http://127.0.0.1:\(proxyPort)", "--user", user, "--peers", peers, "--count", String(count),
            "--store", directory.appendingPathComponent("\(user).sqlite").path,
            "--received", directory.appendingPathComponent("\(user).received").path,
        ])
        let queued = await client.waitForJSONLine(timeout: .seconds(30)) { $0["event"] == "queued" }
        try #require(queued != nil, "client \(user) did not queue its messages: \(client.stderr)")
        return client
    }

    static func lastStatus(_ client: PeerProcess) -> JSONValue? {
        client.jsonLines.last { $0["event"] == "status" }
    }

    struct Line {
        var from: String
        var seq: Int
        var key: String { "\(from) \(seq)" }
    }

    static func received(_ user: String, directory: URL) throws -> [Line] {
        let text = try String(contentsOf: directory.appendingPathComponent("\(user).received"), encoding: .utf8)
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 2, let seq = Int(fields[1]) else { return nil }
            return Line(from: String(fields[0]), seq: seq)
        }
    }
}
