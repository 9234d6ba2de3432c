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

/// Reliable delivery through in-memory transports: what the wire carries for queued messages,
/// room histories and keyed client emits (`Protocol/reliable.md`), with both stores.
@Suite("Reliable delivery")
struct ReliableDeliveryTests {
    let loop = NIOAsyncTestingEventLoop()

    /// A server whose middleware names the user from the auth field `user`.
    func makeServer(
        store: any ReliableStore = InMemoryReliableStore(),
        _ adjust: (inout ReliableDelivery) -> Void = { _ in },
        server configure: (inout SocketServerConfiguration) -> Void = { _ in }
    ) async throws -> SocketServer {
        var configuration = SocketServerConfiguration()
        configuration.engine.address = .hostname("127.0.0.1", port: 0)
        configure(&configuration)
        var reliable = ReliableDelivery(store: store)
        adjust(&reliable)
        configuration.reliableDelivery = reliable
        let server = SocketServer(configuration: configuration)
        server.of("/").use { handshake in
            struct Auth: Decodable { var user: String? }
            if let user = try handshake.auth(as: Auth.self)?.user { handshake.identify(user: user) }
        }
        try await server.start()
        return server
    }

    /// Reads what the server sent to `client` until `done` holds (5 s at most).
    func read(_ client: InMemoryTransport, until done: ([String]) -> Bool) async throws -> [String] {
        var all: [String] = []
        for _ in 0..<500 {
            all += await client.takeSent()
            if done(all) { return all }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("timed out; read so far: \(all)")
        return all
    }

    func connect(_ server: SocketServer, user: String?, device: String?) async throws -> InMemoryTransport {
        var fields: [String] = []
        if let user { fields.append(#""user":"\#(user)""#) }
        if let device { fields.append(#""deviceId":"\#(device)""#) }
        let client = try await InMemoryTransport(server: server, eventLoop: loop)
        try await client.receive("0{" + fields.joined(separator: ",") + "}")
        return client
    }

    /// Connects and waits for the CONNECT reply (middlewares run in tasks: an event sent
    /// before the reply would find no socket yet).
    func connected(_ server: SocketServer, user: String?, device: String?) async throws -> InMemoryTransport {
        let client = try await connect(server, user: user, device: device)
        _ = try await read(client) { $0.contains { $0.hasPrefix("0{") } }
        return client
    }

    /// A reliable message as the wire carries it: `2<ackID>[event, args…, {"parley":{"id":…}}]`.
    struct Delivered {
        var ackID: String
        var arguments: [Any]
        var id: String
    }

    func delivered(_ packets: [String]) -> [Delivered] {
        packets.compactMap { packet -> Delivered? in
            guard packet.hasPrefix("2"), let bracket = packet.firstIndex(of: "[") else { return nil }
            let ackID = String(packet[packet.index(after: packet.startIndex)..<bracket])
            guard !ackID.isEmpty, let array = try? JSONSerialization.jsonObject(with: Data(packet[bracket...].utf8)) as? [Any],
                let marker = array.last as? [String: Any], let fields = marker["parley"] as? [String: Any], let id = fields["id"] as? String
            else { return nil }
            return Delivered(ackID: ackID, arguments: Array(array.dropLast()), id: id)
        }
    }

    @Test func aMessageForAnOfflineUserGoesOutAfterTheConnectReplyWithAnAckID() async throws {
        let server = try await makeServer()
        let id = try await server.user("alice").reliable.emit("dm", "hello")
        #expect(id.split(separator: ".").count == 2)
        #expect(try await server.user("alice").queueState().messages == 1)

        let client = try await connect(server, user: "alice", device: "phone")
        let sent = try await read(client) { !delivered($0).isEmpty }
        #expect(sent.first?.hasPrefix("0{") == true)
        let message = try #require(delivered(sent).first)
        #expect(message.id == id)
        #expect(message.arguments.first as? String == "dm")
        #expect(message.arguments.last as? String == "hello")
        try await client.receive("3\(message.ackID)[]")
        #expect(await eventuallyAsync { try await server.user("alice").queueState().messages == 0 })
        await server.shutdown()
    }

    @Test func aDeviceWithManyPendingGetsThemInOrderAWindowAtATime() async throws {
        let server = try await makeServer { $0.deliveryWindow = 4 }
        var ids: [String] = []
        for index in 0..<10 { ids.append(try await server.user("bob").reliable.emit("n", index)) }
        let client = try await connect(server, user: "bob", device: nil)
        var received: [Delivered] = []
        var packets = try await read(client) { delivered($0).count >= 4 }
        received += delivered(packets)
        // The window: nothing more until something is acknowledged.
        try await Task.sleep(for: .milliseconds(50))
        packets = await client.takeSent()
        #expect(delivered(packets).isEmpty)
        #expect(received.count == 4)
        var acknowledged = 0
        while acknowledged < 10 {
            guard acknowledged < received.count else {
                received += delivered(try await read(client) { !delivered($0).isEmpty })
                continue
            }
            try await client.receive("3\(received[acknowledged].ackID)[]")
            acknowledged += 1
        }
        #expect(received.map(\.id) == ids)
        #expect(received.map { $0.arguments.last as? Int } == Array(0..<10))
        await server.shutdown()
    }

    @Test func aMessageNotAcknowledgedGoesOutAgainOnTheNextConnection() async throws {
        let server = try await makeServer()
        let id = try await server.user("carol").reliable.emit("dm", "again")
        let first = try await connect(server, user: "carol", device: "tab")
        _ = try await read(first) { !delivered($0).isEmpty }
        try await first.drop()
        let second = try await connect(server, user: "carol", device: "tab")
        let again = try #require(delivered(try await read(second) { !delivered($0).isEmpty }).first)
        #expect(again.id == id)
        try await second.receive("3\(again.ackID)[]")
        let third = try await connect(server, user: "carol", device: "tab")
        try await Task.sleep(for: .milliseconds(100))
        #expect(delivered(await third.takeSent()).isEmpty)
        await server.shutdown()
    }

    @Test func aSocketCutWithMessagesUnacknowledgedIsFreedWithItsDelivery() async throws {
        let server = try await makeServer { $0.deliveryWindow = 8 }
        let sockets = NIOLockedValueBox<[Weak<Socket>]>([])
        server.onConnection { socket in sockets.withLockedValue { $0.append(Weak(socket)) } }
        for index in 0..<50 { try await server.user("gone").reliable.emit("n", index) }
        // A client that reads a window of messages and never acknowledges one, then vanishes.
        let client = try await connect(server, user: "gone", device: "d")
        #expect(delivered(try await read(client) { delivered($0).count >= 8 }).count == 8)
        try await client.drop()
        #expect(await eventually { sockets.withLockedValue { $0.allSatisfy { $0.object == nil } } })
        // Nothing was lost: the next connection of the device gets them all again.
        #expect(try await server.user("gone").queueState().messages == 50)
        await server.shutdown()
    }

    @Test func aMessageLeavesTheQueueOnlyWhenEveryKnownDeviceAcknowledgedIt() async throws {
        let server = try await makeServer()
        // Both devices become known.
        for device in ["a", "b"] {
            let client = try await connect(server, user: "dave", device: device)
            _ = try await read(client) { $0.contains { $0.hasPrefix("0{") } }
            try await client.drop()
        }
        try await server.user("dave").reliable.emit("dm", "for both")
        let a = try await connect(server, user: "dave", device: "a")
        let onA = try #require(delivered(try await read(a) { !delivered($0).isEmpty }).first)
        try await a.receive("3\(onA.ackID)[]")
        try await Task.sleep(for: .milliseconds(50))
        let afterA = try await server.user("dave").queueState()
        #expect(afterA.messages == 1)
        #expect(afterA.devices == 2)
        let b = try await connect(server, user: "dave", device: "b")
        let onB = try #require(delivered(try await read(b) { !delivered($0).isEmpty }).first)
        #expect(onB.id == onA.id)
        try await b.receive("3\(onB.ackID)[]")
        #expect(await eventuallyAsync { try await server.user("dave").queueState().messages == 0 })
        await server.shutdown()
    }

    @Test func aConnectedDeviceGetsNewMessagesAsTheyAreAccepted() async throws {
        let server = try await makeServer()
        let client = try await connect(server, user: "erin", device: "d")
        _ = try await read(client) { $0.contains { $0.hasPrefix("0{") } }
        let id = try await server.user("erin").reliable.emit("dm", "live")
        let message = try #require(delivered(try await read(client) { !delivered($0).isEmpty }).first)
        #expect(message.id == id)
        // An ack for an id the socket does not wait for changes nothing.
        try await client.receive("3987654[]")
        try await client.receive("3\(message.ackID)[]")
        try await client.receive("3\(message.ackID)[]")
        #expect(await eventuallyAsync { try await server.user("erin").queueState().messages == 0 })
        await server.shutdown()
    }

    @Test func queueBoundsRefuseOrDropTheOldestAsConfigured() async throws {
        let refusing = try await makeServer { $0.queueBounds = QueueBounds(maxMessages: 2, maxBytes: 1 << 20, overflow: .refuse) }
        try await refusing.user("f").reliable.emit("m", 1)
        try await refusing.user("f").reliable.emit("m", 2)
        let error = await #expect(throws: ReliableError.self) { try await refusing.user("f").reliable.emit("m", 3) }
        #expect(error?.code == .queueFull)
        #expect(error?.queueState?.messages == 2)
        #expect(try await refusing.user("f").queueState().messages == 2)
        await refusing.shutdown()

        let dropping = try await makeServer { $0.queueBounds = QueueBounds(maxMessages: 2, maxBytes: 1 << 20, overflow: .dropOldest) }
        for index in 1...3 { try await dropping.user("f").reliable.emit("m", index) }
        let state = try await dropping.user("f").queueState()
        #expect(state.messages == 2)
        #expect(state.dropped == 1)
        let client = try await connect(dropping, user: "f", device: nil)
        let received = delivered(try await read(client) { delivered($0).count >= 2 })
        #expect(received.map { $0.arguments.last as? Int } == [2, 3])
        await dropping.shutdown()
    }

    @Test func anOversizedMessageIsRefusedAndNothingIsQueued() async throws {
        let server = try await makeServer { $0.maxMessageBytes = 100 }
        let error = await #expect(throws: ReliableError.self) {
            try await server.user("g").reliable.emit("big", String(repeating: "x", count: 200))
        }
        #expect(error?.code == .tooLarge)
        #expect(try await server.user("g").queueState().messages == 0)
        await server.shutdown()
    }

    @Test func anInvalidDeviceIdIsRefusedAtConnect() async throws {
        let server = try await makeServer()
        let client = try await InMemoryTransport(server: server, eventLoop: loop)
        try await client.receive(#"0{"deviceId":""}"#)
        let sent = try await read(client) { !$0.isEmpty }
        #expect(sent.first?.hasPrefix("4{") == true)
        #expect(sent.first?.contains("invalid deviceId") == true)
        await server.shutdown()
    }

    // MARK: Room history

    @Test func roomMessagesGoOutLiveWithTheirOffsetAndComeBackFromHistory() async throws {
        let server = try await makeServer()
        server.onConnection { socket in socket.join("lobby") }
        let member = try await connect(server, user: "h", device: nil)
        _ = try await read(member) { $0.contains { $0.hasPrefix("0{") } }
        var offsets: [String] = []
        for index in 1...3 { offsets.append(try await server.to("lobby").reliable.emit("said", "m\(index)")) }
        let live = try await read(member) { packets in packets.filter { $0.contains("said") }.count >= 3 }
        let third = try #require(live.last { $0.contains("\"m3\"") })
        #expect(third.contains(#"{"parley":{"room":"lobby","offset":"\#(offsets[2])"}}"#))

        try await member.receive(#"21["parley:history",{"room":"lobby","last":2}]"#)
        let newest = try await historyAnswer(member, ackID: 1)
        #expect(newest.messages.map(\.offset) == Array(offsets[1...]))
        #expect(newest.messages.first?.event == ["said", "m2"])
        #expect(newest.latest == offsets[2])
        #expect(!newest.reset)

        try await member.receive(#"22["parley:history",{"room":"lobby","after":"\#(offsets[0])","limit":1}]"#)
        let paged = try await historyAnswer(member, ackID: 2)
        #expect(paged.messages.map(\.offset) == [offsets[1]])
        #expect(paged.more)

        try await member.receive(#"23["parley:history",{"room":"lobby","after":"zzzzzzzz.1"}]"#)
        let foreign = try await historyAnswer(member, ackID: 3)
        #expect(foreign.reset)
        #expect(foreign.messages.map(\.offset) == offsets)

        try await member.receive(#"24["parley:history",{"room":"elsewhere"}]"#)
        let refused = try await read(member) { $0.contains { $0.hasPrefix("34") } }
        #expect(refused.contains { $0.hasPrefix("34") && $0.contains("forbidden") })
        await server.shutdown()
    }

    @Test func aRoomHistoryPositionOlderThanRetentionIsReportedAsReset() async throws {
        let server = try await makeServer { $0.roomMaxMessages = 2 }
        server.onConnection { socket in socket.join("r") }
        var offsets: [String] = []
        for index in 1...4 { offsets.append(try await server.to("r").reliable.emit("said", index)) }
        let member = try await connected(server, user: nil, device: nil)
        try await member.receive(#"21["parley:history",{"room":"r","after":"\#(offsets[0])"}]"#)
        let page = try await historyAnswer(member, ackID: 1)
        #expect(page.reset)
        #expect(page.messages.map(\.offset) == Array(offsets[2...]))
        let error = await #expect(throws: ReliableError.self) {
            try await server.to("r").except("x").reliable.emit("said", 5)
        }
        #expect(error?.code == .unsupported)
        await server.shutdown()
    }

    struct HistoryAnswer {
        struct Entry {
            var offset: String
            var event: [String]
        }

        var messages: [Entry]
        var latest: String
        var more: Bool
        var reset: Bool
    }

    func historyAnswer(_ client: InMemoryTransport, ackID: Int) async throws -> HistoryAnswer {
        let sent = try await read(client) { $0.contains { $0.hasPrefix("3\(ackID)[") } }
        let packet = try #require(sent.first { $0.hasPrefix("3\(ackID)[") })
        let array = try #require(try JSONSerialization.jsonObject(with: Data(packet.drop { $0 != "[" }.utf8)) as? [[String: Any]])
        let page = try #require(array.first)
        let messages = try #require(page["messages"] as? [[String: Any]])
        return HistoryAnswer(
            messages: messages.map { entry in
                HistoryAnswer.Entry(
                    offset: entry["offset"] as? String ?? "",
                    event: (entry["event"] as? [Any] ?? []).map { "\($0)" }
                )
            },
            latest: page["latest"] as? String ?? "",
            more: page["more"] as? Bool ?? false,
            reset: page["reset"] as? Bool ?? false
        )
    }
}
