import Foundation
import NIOCore
import NIOEmbedded
import Parley
import ParleyEngine
import ParleyProtocol
import ParleyTesting
import Testing

/// Rooms and the broadcast operator through in-memory transports.
@Suite("Rooms and broadcasting")
struct RoomAndBroadcastTests {
    let loop = NIOAsyncTestingEventLoop()
    let server = SocketServer(configuration: SocketServerConfiguration())

    /// `count` clients connected to `/`, with their sockets in connection order.
    func clients(_ count: Int) async throws -> [(client: InMemoryTransport, socket: Socket)] {
        let sockets = Recorder<Socket>()
        server.onConnection { sockets.append($0) }
        var result: [(InMemoryTransport, Socket)] = []
        for index in 0..<count {
            let client = try await InMemoryTransport(server: server, eventLoop: loop)
            try await client.receive("0")
            _ = await client.takeSent()
            result.append((client, sockets.values[index]))
        }
        return result
    }

    @Test func everySocketIsInItsOwnRoom() async throws {
        let all = try await clients(1)
        #expect(all[0].socket.rooms == [all[0].socket.id])
        try server.to(all[0].socket.id).emit("direct", 1)
        #expect(await all[0].client.takeSent() == [#"2["direct",1]"#])
    }

    @Test func aRoomBroadcastReachesItsMembersOnlyAndSocketToLeavesTheSenderOut() async throws {
        let all = try await clients(4)
        for member in all.prefix(3) { member.socket.join("r") }
        try server.to("r").emit("news", "all")
        try all[0].socket.to("r").emit("news", "others")
        #expect(await all[0].client.takeSent() == [#"2["news","all"]"#])
        #expect(await all[1].client.takeSent() == [#"2["news","all"]"#, #"2["news","others"]"#])
        #expect(await all[2].client.takeSent() == [#"2["news","all"]"#, #"2["news","others"]"#])
        #expect(await all[3].client.takeSent() == [])
    }

    @Test func exceptAndSeveralRoomsCombine() async throws {
        let all = try await clients(3)
        all[0].socket.join("a")
        all[1].socket.join("b")
        all[2].socket.join("a", "muted")
        try server.to("a", "b").except("muted").emit("x")
        #expect(await counts(all) == [1, 1, 0])
        try server.broadcast.except("a").emit("y")
        #expect(await counts(all) == [0, 1, 0])
    }

    func counts(_ all: [(client: InMemoryTransport, socket: Socket)]) async -> [Int] {
        var result: [Int] = []
        for member in all { result.append(await member.client.takeSent().count) }
        return result
    }

    @Test func aBroadcastIsEncodedOnceForEveryRecipient() async throws {
        let all = try await clients(3)
        for member in all { member.socket.join("r") }
        try server.to("r").emit("same", String(repeating: "x", count: 100))
        await loop.run()
        var addresses: Set<UInt> = []
        for member in all {
            member.client.withSentMessages { messages in
                if case .text(let text) = messages.first {
                    text.withUnsafeReadableBytes { addresses.insert(UInt(bitPattern: $0.baseAddress)) }
                }
            }
        }
        // The same bytes in memory: one encoding shared by every recipient.
        #expect(addresses.count == 1)
        #expect(!addresses.contains(0))
    }

    @Test func leavingARoomStopsItsBroadcasts() async throws {
        let all = try await clients(2)
        all[0].socket.join("r")
        all[1].socket.join("r")
        all[1].socket.leave("r")
        try server.to("r").emit("x")
        #expect(await all[1].client.takeSent() == [])
        #expect(all[1].socket.rooms == [all[1].socket.id])
    }

    @Test func fetchSocketsJoinLeaveAndDisconnectActOnTheSelection() async throws {
        let all = try await clients(3)
        all[0].socket.join("r")
        all[1].socket.join("r")
        #expect(Set(await server.to("r").fetchSockets().map(\.id)) == Set([all[0].socket.id, all[1].socket.id]))
        await server.to("r").socketsJoin("s")
        #expect(all[1].socket.rooms.contains("s"))
        await server.to("s").socketsLeave("r")
        #expect(await server.to("r").fetchSockets().isEmpty)
        await server.to("s").disconnectSockets()
        #expect(await all[0].client.takeSent() == ["1"])
        #expect(server.of("/").sockets.map(\.id) == [all[2].socket.id])
        #expect(all[0].client.closeReason == nil)
    }

    @Test func aBroadcastWithAckCollectsEveryAnswer() async throws {
        let all = try await clients(3)
        async let answers = server.broadcast.timeout(.seconds(5)).emitWithAck("vote")
        for member in all {
            let packet = try #require(try await eventually(member.client) { !$0.isEmpty }.first)
            let id = packet.dropFirst().prefix { $0.isNumber }
            try await member.client.receive("3\(id)[\"\(member.socket.id)\"]")
        }
        let collected = try await answers
        #expect(Set(collected.map(\.socketID)) == Set(all.map(\.socket.id)))
        #expect(try collected.allSatisfy { try $0.arguments.decode(String.self, at: 0) == $0.socketID })
    }

    @Test func aBroadcastWithAckTimesOutListingWhoDidNotAnswer() async throws {
        let all = try await clients(2)
        let waiting = Task { try await server.broadcast.timeout(.seconds(1)).emitWithAck("vote") }
        let packet = try #require(try await eventually(all[0].client) { !$0.isEmpty }.first)
        _ = try await eventually(all[1].client) { !$0.isEmpty }
        let id = packet.dropFirst().prefix { $0.isNumber }
        try await all[0].client.receive("3\(id)[true]")
        await loop.advanceTime(by: .seconds(1))
        do {
            _ = try await waiting.value
            Issue.record("expected a timeout")
        } catch let error as AckTimeoutError {
            #expect(error.missing == [all[1].socket.id])
            #expect(error.received.map(\.socketID) == [all[0].socket.id])
        }
    }

    @Test func volatileEventsAreDroppedForCongestedClients() async throws {
        let all = try await clients(2)
        all[1].client.isCongested = true
        try server.broadcast.volatile.emit("position", 1)
        #expect(await all[0].client.takeSent() == [#"2["position",1]"#])
        #expect(await all[1].client.takeSent() == [])
    }

    @Test func theDisconnectingHookStillSeesTheRooms() async throws {
        let seen = Recorder<String>()
        let all = try await clients(1)
        all[0].socket.join("r")
        all[0].socket.onDisconnecting { reason in seen.append("\(reason.code) \(all[0].socket.rooms.contains("r"))") }
        all[0].socket.onDisconnect { _ in seen.append("after \(all[0].socket.rooms.contains("r"))") }
        try await all[0].client.drop(EngineCloseReason(.pingTimeout))
        #expect(seen.values == ["ping timeout true", "after false"])
    }

    @Test func aServerDisconnectTellsTheClientAndKeepsTheConnection() async throws {
        let seen = Recorder<String>()
        let all = try await clients(1)
        all[0].socket.onDisconnect { seen.append($0.code.description) }
        all[0].socket.disconnect()
        #expect(await all[0].client.takeSent() == ["1"])
        #expect(seen.values == ["server namespace disconnect"])
        #expect(all[0].client.closeReason == nil)
    }

    @Test func aDisconnectWithCloseEndsTheConnection() async throws {
        let seen = Recorder<String>()
        let all = try await clients(1)
        all[0].socket.onDisconnect { seen.append($0.code.description) }
        all[0].socket.disconnect(close: true)
        _ = await all[0].client.takeSent()
        #expect(seen.values == ["forced server close"])
        #expect(all[0].client.closeReason?.code == .forcedClose)
    }

    @Test func userDataTravelsWithTheSocket() async throws {
        server.onConnection { socket in
            socket.on("set nick") { event in socket.data["nick"] = try event.argument(0, as: String.self) }
            socket.on("nick?") { event in try event.ack(socket.data.get("nick", as: String.self) ?? "none") }
        }
        let all = try await clients(3)
        // Written by one event's handler, read by a later event's, and per socket.
        try await all[0].client.receive(#"2["set nick","ada"]"#)
        try await all[1].client.receive(#"2["set nick","bob"]"#)
        try await all[0].client.receive(#"21["nick?"]"#)
        try await all[1].client.receive(#"22["nick?"]"#)
        try await all[2].client.receive(#"23["nick?"]"#)
        #expect(await all[0].client.takeSent() == [#"31["ada"]"#])
        #expect(await all[1].client.takeSent() == [#"32["bob"]"#])
        #expect(await all[2].client.takeSent() == [#"33["none"]"#])
        // The server's own views of the sockets see the same values.
        #expect(server.of("/").socket(id: all[1].socket.id)?.data.get("nick", as: String.self) == "bob")
        let nicks = server.of("/").sockets.map { $0.data.get("nick", as: String.self) ?? "none" }
        #expect(nicks.sorted() == ["ada", "bob", "none"])
        // A value of another type is not returned as a String.
        all[2].socket.data["nick"] = 7
        #expect(all[2].socket.data.get("nick", as: String.self) == nil)
        #expect(all[2].socket.data.get("nick", as: Int.self) == 7)
    }
}
