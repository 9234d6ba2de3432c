import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Parley
import ParleyClient
import ParleyProtocol
import ParleySQLite
import ParleyStore
import ParleyTesting
import Testing

/// What a reliable client does with what it receives (`Protocol/reliable.md` § 3.2, § 4, § 6.2,
/// § 6.3), against a plain Parley server that sends markers by hand.
@Suite("Client reliable inbound (live)", .serialized, .timeLimit(.minutes(2)))
struct ClientReliableInboundTests {
    /// A `dm` as the client application saw it.
    struct Received: Equatable, Sendable {
        var id: String?
        var json: String
        var expectsAck: Bool
    }

    @Test func aRepeatedMessageIsPassedOnOnceAndAcknowledgedEachTimeAcrossARestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-client-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("client.sqlite").path
        let sockets = NIOLockedValueBox<[Socket]>([])
        let (server, port) = try await ClientReliableTests.server { socket in sockets.withLockedValue { $0.append(socket) } }
        func deliver(_ id: String, _ text: String) async throws -> SocketArguments {
            let socket = try #require(sockets.withLockedValue { $0.last })
            return try await socket.emitWithAck("dm", ["text": text], ["parley": ["id": id]], timeout: .seconds(5))
        }

        for run in 1...2 {
            let store = SQLiteClientReliableStore(path: path)
            let manager = try ClientReliableTests.manager(port: port, store: store)
            let socket = manager.socket()
            let received = NIOLockedValueBox<[Received]>([])
            socket.on("dm") { event in
                received.withLockedValue { $0.append(Received(id: event.reliableID, json: event.arguments.jsonText, expectsAck: event.expectsAck)) }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await manager.run() }
                #expect(await eventually { sockets.withLockedValue { $0.count } == run && socket.isConnected })
                if run == 1 {
                    // The ack comes after the handler ran, with no arguments.
                    #expect(try await deliver("e.1", "hi").count == 0)
                    #expect(received.withLockedValue { $0 } == [Received(id: "e.1", json: #"[{"text":"hi"}]"#, expectsAck: false)])
                    #expect(try await deliver("e.1", "hi").count == 0)
                    #expect(try await deliver("e.2", "there").count == 0)
                    #expect(received.withLockedValue { $0.map(\.id) } == ["e.1", "e.2"])
                } else {
                    // The next run of the app still knows e.1 and e.2.
                    #expect(try await deliver("e.1", "hi").count == 0)
                    #expect(try await deliver("e.3", "again").count == 0)
                    #expect(try await deliver("e.2", "there").count == 0)
                    #expect(received.withLockedValue { $0 } == [Received(id: "e.3", json: #"[{"text":"again"}]"#, expectsAck: false)])
                }
                await manager.disconnect()
                try await group.waitForAll()
            }
            try await store.close()
        }
        await server.shutdown()
    }

    @Test func liveRoomMessagesAtOrBelowTheRoomsPositionAreDropped() async throws {
        // With recovery on, the marker sits before the trailing offset the server appends.
        let (server, port) = try await ClientReliableTests.server(recovery: true) { socket in
            socket.join("lobby")
            socket.on("ready") { event in try event.ack() }
        }
        let store = InMemoryClientReliableStore()
        let manager = try ClientReliableTests.manager(port: port, store: store)
        let socket = manager.socket()
        let received = NIOLockedValueBox<[String]>([])
        socket.on("said") { event in
            let text = try event.argument(0, as: [String: String].self)["text"] ?? "?"
            // The marker is gone; the recovery offset is still last.
            let recoveryOffset = try event.argument(1, as: String.self)
            #expect(event.arguments.count == 2 && event.room == "lobby" && !recoveryOffset.isEmpty)
            received.withLockedValue { $0.append("\(event.roomOffset ?? "-") \(text)") }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await manager.run() }
            _ = try await socket.emitWithAck("ready", timeout: .seconds(5))
            for offset in ["ep.1", "ep.2", "ep.2", "ep.1", "ep.10", "ep.9", "fp.1"] {
                try server.to("lobby").emit("said", ["text": "at \(offset)"], ["parley": ["room": "lobby", "offset": offset]])
            }
            // In order: once the last one is in, every earlier one was handled.
            #expect(await eventually { received.withLockedValue { $0.last } == "fp.1 at fp.1" })
            #expect(received.withLockedValue { $0 } == ["ep.1 at ep.1", "ep.2 at ep.2", "ep.10 at ep.10", "fp.1 at fp.1"])
            #expect(try await store.roomPosition(namespace: "/", room: "lobby") == "fp.1")
            await manager.disconnect()
            try await group.waitForAll()
        }
        await server.shutdown()
    }

    @Test func historyAsksFromTheRoomsPositionAndMovesIt() async throws {
        let requests = NIOLockedValueBox<[HistoryRequest]>([])
        let pages = NIOLockedValueBox<[String]>([
            #"{"room":"lobby","messages":[{"offset":"ep.1","at":1764982800000,"event":["said",{"text":"one"}]},{"offset":"ep.2","at":1764982801000,"event":["said",{"text":"two"},2]}],"latest":"ep.2","more":false,"reset":false}"#,
            #"{"room":"lobby","messages":[{"offset":"ep.3","at":1764982802000,"event":["said",{"text":"three"}]}],"latest":"ep.9","more":true,"reset":false}"#,
            #"{"parley":{"error":"forbidden","message":"not a member"}}"#,
            #"{"room":"lobby","messages":[{"offset":"fp.4","at":1764982803000,"event":["said",{"text":"four"}]}],"latest":"fp.4","more":false,"reset":true}"#,
            #"{"room":"lobby","messages":[],"latest":"fp.4","more":false,"reset":false}"#,
        ])
        let (server, port) = try await ClientReliableTests.server { socket in
            socket.join("lobby")
            socket.on("parley:history") { event in
                let request = try event.argument(0, as: HistoryRequest.self)
                requests.withLockedValue { $0.append(request) }
                let page = pages.withLockedValue { $0.removeFirst() }
                event.ack(arguments: SocketArguments(json: ByteBuffer(string: "[\(page)]")))
            }
        }
        let store = InMemoryClientReliableStore()
        let live = NIOLockedValueBox<[String]>([])
        for run in 1...2 {
            let manager = try ClientReliableTests.manager(port: port, store: store)
            let socket = manager.socket()
            socket.on("said") { event in live.withLockedValue { $0.append(event.roomOffset ?? "-") } }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await manager.run() }
                if run == 1 {
                    let first = try await socket.history(room: "lobby", limit: 50)
                    #expect(first.messages.map(\.offset) == ["ep.1", "ep.2"])
                    #expect(first.messages.map(\.timeMilliseconds) == [1_764_982_800_000, 1_764_982_801_000])
                    #expect(first.messages.map(\.event.name) == ["said", "said"])
                    #expect(try first.messages[1].event.argument(0, as: [String: String].self) == ["text": "two"])
                    #expect(try first.messages[1].event.argument(1, as: Int.self) == 2)
                    #expect(first.messages[1].event.roomOffset == "ep.2" && first.messages[1].event.room == "lobby")
                    #expect(!first.more && !first.reset && first.latest == "ep.2")

                    let second = try await socket.history(room: "lobby", limit: 50)
                    #expect(second.messages.map(\.offset) == ["ep.3"] && second.more)

                    await #expect { try await socket.history(room: "lobby") } throws: { error in
                        guard let error = error as? RoomHistoryError else { return false }
                        return error.code == .forbidden && error.message == "not a member" && error.room == "lobby"
                    }

                    let third = try await socket.history(room: "lobby")
                    #expect(third.reset && third.messages.map(\.offset) == ["fp.4"])
                    // A live message the page already had is a repeat; the next one is not.
                    try server.to("lobby").emit("said", "x", ["parley": ["room": "lobby", "offset": "fp.4"]])
                    try server.to("lobby").emit("said", "y", ["parley": ["room": "lobby", "offset": "fp.5"]])
                    #expect(await eventually { live.withLockedValue { $0 } == ["fp.5"] })
                } else {
                    // A new manager on the same store asks from where the last one was.
                    let page = try await socket.history(room: "lobby")
                    #expect(page.messages.isEmpty && !page.reset)
                }
                await manager.disconnect()
                try await group.waitForAll()
            }
        }
        #expect(requests.withLockedValue { $0 } == [
            HistoryRequest(room: "lobby", last: 50),
            HistoryRequest(room: "lobby", after: "ep.2", limit: 50),
            HistoryRequest(room: "lobby", after: "ep.3", limit: 100),
            HistoryRequest(room: "lobby", after: "ep.3", limit: 100),
            HistoryRequest(room: "lobby", after: "fp.5", limit: 100),
        ])
        #expect(live.withLockedValue { $0 } == ["fp.5"])
        await server.shutdown()
    }

    /// The argument of `parley:history` as the server read it.
    struct HistoryRequest: Codable, Equatable, Sendable {
        var room: String
        var after: String?
        var last: Int?
        var limit: Int?
    }
}
