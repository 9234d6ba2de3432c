import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
@testable import Parley
import ParleyProtocol
import ParleySQLite
import ParleyStore
import ParleyTesting
import Testing

/// Client emits with an idempotency key (`Protocol/reliable.md` § 5), and what a full store
/// does to reliable emits.
@Suite("Idempotent client emits")
struct IdempotentEmitTests {
    let loop = NIOAsyncTestingEventLoop()
    let delivery = ReliableDeliveryTests()

    func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("parley-reliable-\(UUID().uuidString)/reliable.sqlite").path
    }

    /// A server whose `send` handler counts its runs and queues the text for the user `to`.
    func makeServer(store: any ReliableStore, runs: NIOLockedValueBox<Int>) async throws -> SocketServer {
        let server = try await delivery.makeServer(store: store)
        server.onConnection { socket in
            socket.on("send", answer: { event -> [String: String] in
                runs.withLockedValue { $0 += 1 }
                let text = try event.argument(0, as: String.self)
                let id = try await socket.namespace.user("to").reliable.emit("dm", text)
                return ["id": id]
            })
        }
        return server
    }

    func answer(_ client: InMemoryTransport, ackID: Int) async throws -> String {
        let sent = try await delivery.read(client) { $0.contains { $0.hasPrefix("3\(ackID)[") } }
        return try #require(sent.first { $0.hasPrefix("3\(ackID)[") })
    }

    @Test func aRetriedEmitGetsTheFirstAnswerWithoutTheHandlerRunningAgain() async throws {
        let runs = NIOLockedValueBox(0)
        let server = try await makeServer(store: InMemoryReliableStore(), runs: runs)
        let client = try await delivery.connected(server, user: "u", device: "d")
        try await client.receive(#"21["send","hi",{"parley":{"key":"d.1"}}]"#)
        let first = try await answer(client, ackID: 1)
        #expect(first.hasPrefix(#"31[{"id":""#))
        // The same emit again, on this connection and on another one of the same device.
        try await client.receive(#"22["send","hi",{"parley":{"key":"d.1"}}]"#)
        #expect(try await answer(client, ackID: 2).dropFirst(2) == first.dropFirst(2))
        let other = try await delivery.connected(server, user: "u", device: "d")
        try await other.receive(#"23["send","hi",{"parley":{"key":"d.1"}}]"#)
        #expect(try await answer(other, ackID: 3).dropFirst(2) == first.dropFirst(2))
        #expect(runs.withLockedValue { $0 } == 1)
        #expect(try await server.of("/").user("to").queueState().messages == 1)

        // The same key with another payload is refused; the handler does not run.
        try await client.receive(#"24["send","other",{"parley":{"key":"d.1"}}]"#)
        #expect(try await answer(client, ackID: 4).contains(#""error":"key_reused""#))
        // A malformed key is a bad request.
        try await client.receive(#"25["send","x",{"parley":{"key":""}}]"#)
        #expect(try await answer(client, ackID: 5).contains(#""error":"bad_request""#))
        #expect(runs.withLockedValue { $0 } == 1)
        await server.shutdown()
    }

    @Test func keyedEmitsOfOneSocketTakeEffectInTheOrderTheyArrived() async throws {
        let runs = NIOLockedValueBox(0)
        let server = try await makeServer(store: InMemoryReliableStore(), runs: runs)
        let client = try await delivery.connected(server, user: "u", device: "d")
        for index in 1...20 {
            try await client.receive(#"2\#(index)["send","m\#(index)",{"parley":{"key":"d.\#(index)"}}]"#)
        }
        _ = try await delivery.read(client) { packets in packets.filter { $0.hasPrefix("3") }.count >= 20 }
        let receiver = try await delivery.connect(server, user: "to", device: nil)
        var texts: [String] = []
        while texts.count < 20 {
            let messages = delivery.delivered(try await delivery.read(receiver) { !delivery.delivered($0).isEmpty })
            for message in messages {
                texts.append(message.arguments.last as? String ?? "")
                try await receiver.receive("3\(message.ackID)[]")
            }
        }
        #expect(texts == (1...20).map { "m\($0)" })
        await server.shutdown()
    }

    @Test func aClientQueueingKeyedEmitsFasterThanTheyAreAnsweredIsClosed() async throws {
        let server = try await delivery.makeServer(server: { $0.maxPendingHandlersPerConnection = 4 })
        server.onConnection { socket in
            socket.on("slow", answer: { _ -> Bool in
                try await Task.sleep(for: .seconds(60))  // cancelled by the shutdown
                return true
            })
        }
        let client = try await delivery.connected(server, user: "u", device: "d")
        for index in 1...10 {
            try await client.receive(#"2\#(index)["slow",{"parley":{"key":"d.\#(index)"}}]"#)
        }
        #expect(await eventually { client.closeReason != nil })
        #expect(client.closeReason?.code == .forcedClose)
        await server.shutdown()
    }

    @Test func aRetryAfterARestartOfTheServerGetsTheFirstAnswer() async throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path) }
        let runs = NIOLockedValueBox(0)
        let first = try await makeServer(store: SQLiteReliableStore(path: path), runs: runs)
        let client = try await delivery.connected(first, user: "u", device: "d")
        try await client.receive(#"21["send","hi",{"parley":{"key":"d.7"}}]"#)
        let before = try await answer(client, ackID: 1)
        await first.shutdown()

        let second = try await makeServer(store: SQLiteReliableStore(path: path), runs: runs)
        let again = try await delivery.connected(second, user: "u", device: "d")
        try await again.receive(#"22["send","hi",{"parley":{"key":"d.7"}}]"#)
        #expect(try await answer(again, ackID: 2).dropFirst(2) == before.dropFirst(2))
        #expect(runs.withLockedValue { $0 } == 1)
        #expect(try await second.of("/").user("to").queueState().messages == 1)
        await second.shutdown()
    }

    @Test func aHandlerRunAgainAfterACrashDoesNotQueueItsMessagesTwice() async throws {
        // What a server that died after the handler's emit, before the answer was kept, leaves.
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path) }
        let store = SQLiteReliableStore(path: path)
        _ = try await store.open(now: 0)
        let earlier = StoredMessage(payload: Array(#"["dm","hi"]"#.utf8), timeMilliseconds: 1)
        _ = try await store.commit([.enqueue(UserQueue(namespace: "/", user: "to"), earlier, bounds: QueueBounds(), origin: "/\u{1}u\u{1}d\u{1}d.9#0")], now: 1)
        try await store.close()

        let runs = NIOLockedValueBox(0)
        let server = try await makeServer(store: SQLiteReliableStore(path: path), runs: runs)
        let client = try await delivery.connected(server, user: "u", device: "d")
        try await client.receive(#"21["send","hi",{"parley":{"key":"d.9"}}]"#)
        _ = try await answer(client, ackID: 1)
        #expect(runs.withLockedValue { $0 } == 1)
        #expect(try await server.of("/").user("to").queueState().messages == 1)
        await server.shutdown()
    }

    @Test func aFullStoreRefusesNewMessagesAndKeepsTheAcceptedOnes() async throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path) }
        var configuration = SQLiteReliableStore.Configuration()
        configuration.maxPageCount = 64
        let server = try await delivery.makeServer(store: SQLiteReliableStore(path: path, configuration: configuration)) {
            $0.queueBounds = QueueBounds(maxMessages: 1_000_000, maxBytes: 1 << 30)
        }
        var accepted: [String] = []
        var failure: ReliableError?
        let text = String(repeating: "p", count: 2_000)
        for _ in 0..<1_000 {
            do {
                accepted.append(try await server.user("full").reliable.emit("dm", text))
            } catch let error as ReliableError {
                failure = error
                break
            }
        }
        let error = try #require(failure)
        #expect(error.code == .storeFailed)
        #expect(error.storeError?.code == .full)
        #expect(!accepted.isEmpty)
        await server.shutdown()

        // Every accepted message is still there after a restart, on a store with room.
        let reopened = try await delivery.makeServer(store: SQLiteReliableStore(path: path))
        #expect(try await reopened.user("full").queueState().messages == accepted.count)
        let client = try await delivery.connect(reopened, user: "full", device: nil)
        let first = try #require(delivery.delivered(try await delivery.read(client) { !delivery.delivered($0).isEmpty }).first)
        #expect(first.id == accepted.first)
        await reopened.shutdown()
    }
}
