import Foundation
import NIOCore
import NIOEmbedded
import Parley
import ParleyEngine
import ParleyProtocol
import ParleyTesting
import Testing

/// Events, acknowledgements and binary attachments through an in-memory transport.
@Suite("Events and acknowledgements")
struct EventAndAckTests {
    let loop = NIOAsyncTestingEventLoop()
    let server = SocketServer(configuration: SocketServerConfiguration())

    struct Message: Codable, Equatable, Sendable {
        var text: String
        var count: Int
    }

    struct Upload: Codable, Equatable, Sendable {
        var name: String
        var bytes: Data
    }

    /// A client connected to `/` whose CONNECT reply has been consumed.
    func connectedClient(_ setUp: @escaping @Sendable (Socket) -> Void = { _ in }) async throws -> InMemoryTransport {
        server.onConnection(setUp)
        let client = try await InMemoryTransport(server: server, eventLoop: loop)
        try await client.receive("0")
        let reply = await client.takeSent()
        #expect(reply.first?.hasPrefix("0{\"sid\":") == true)
        return client
    }

    @Test func handlersDecodeTheirArgumentsOnDemand() async throws {
        let seen = Recorder<String>()
        let client = try await connectedClient { socket in
            socket.on("chat") { event in
                let message = try event.argument(0, as: Message.self)
                let extra = try event.argument(1, as: [Int].self)
                seen.append("\(event.name) \(message.text) \(message.count) \(extra) \(event.arguments.count)")
            }
        }
        try await client.receive(#"2["chat",{"text":"hi","count":2},[1,2]]"#)
        #expect(seen.values == ["chat hi 2 [1, 2] 2"])
    }

    @Test func aCatchAllSeesEventsWithoutAHandler() async throws {
        let seen = Recorder<String>()
        let client = try await connectedClient { socket in
            socket.on("known") { _ in seen.append("known") }
            socket.onAny { event in seen.append("any \(event.name) \(event.arguments.jsonText)") }
        }
        try await client.receive(#"2["known"]"#)
        try await client.receive(#"2["other",1,"two"]"#)
        #expect(seen.values == ["known", #"any other [1,"two"]"#])
    }

    @Test func aClientAckIsAnsweredByTheHandler() async throws {
        let client = try await connectedClient { socket in
            socket.on("double") { event in try event.ack(try event.argument(0, as: Int.self) * 2, "done") }
        }
        try await client.receive(#"27["double",21]"#)
        #expect(await client.takeSent() == [#"37[42,"done"]"#])
    }

    @Test func anAckIsSentOnceAtMost() async throws {
        let client = try await connectedClient { socket in
            socket.on("twice") { event in
                try event.ack(1)
                try event.ack(2)
            }
        }
        try await client.receive(#"29["twice"]"#)
        #expect(await client.takeSent() == ["39[1]"])
    }

    @Test func anAnswerHandlerAcksWithItsReturnValue() async throws {
        let client = try await connectedClient { socket in
            socket.on("sum", answer: { event in
                try event.arguments.decode([Int].self).reduce(0, +)
            })
        }
        try await client.receive(#"212["sum",1,2,3]"#)
        #expect(try await eventually(client) { !$0.isEmpty } == ["312[6]"])
    }

    @Test func emitWithAckReturnsTheClientAnswer() async throws {
        let sockets = Recorder<Socket>()
        let client = try await connectedClient { sockets.append($0) }
        let socket = try #require(sockets.values.first)
        async let answer = socket.emitWithAck("question", "life", timeout: .seconds(5))
        let sent = try await eventually(client) { !$0.isEmpty }
        let packet = try #require(sent.first)
        #expect(packet.hasSuffix(#"["question","life"]"#))
        let id = packet.dropFirst().prefix { $0.isNumber }
        try await client.receive("3\(id)[42]")
        #expect(try await answer.decode(Int.self, at: 0) == 42)
    }

    @Test func emitWithAckForwardsEncodedArgumentsAsTheyCame() async throws {
        let sockets = Recorder<Socket>()
        let client = try await connectedClient { sockets.append($0) }
        let socket = try #require(sockets.values.first)
        // The space and the key order show that nothing was decoded and encoded again.
        let forwarded = SocketArguments(
            json: ByteBuffer(string: #"[{"z":{"_placeholder":true,"num":0}, "a":1}]"#),
            attachments: [ByteBuffer(bytes: [0x00, 0xFF])]
        )
        async let answer = socket.emitWithAck("forward", arguments: forwarded, timeout: .seconds(5))
        let sent = try await eventually(client) { $0.count == 2 }
        let packet = try #require(sent.first)
        #expect(packet.hasPrefix("51-"))
        #expect(packet.hasSuffix(#"["forward",{"z":{"_placeholder":true,"num":0}, "a":1}]"#))
        #expect(sent.last == "<binary:00ff>")
        let id = packet.dropFirst(3).prefix { $0.isNumber }
        try await client.receive("3\(id)[\"ok\",2]")
        #expect(try await answer.jsonText == #"["ok",2]"#)
    }

    @Test func emitWithAckTimesOutWithATypedError() async throws {
        let sockets = Recorder<Socket>()
        let client = try await connectedClient { sockets.append($0) }
        let socket = try #require(sockets.values.first)
        let waiting = Task { try await socket.emitWithAck("question", timeout: .seconds(2)) }
        _ = try await eventually(client) { !$0.isEmpty }
        await client.advanceTime(by: .seconds(2))
        let result = await waiting.result
        #expect(throws: AckTimeoutError.self) { try result.get() }
    }

    @Test func emitWithAckFailsWhenTheSocketLeaves() async throws {
        let sockets = Recorder<Socket>()
        let client = try await connectedClient { sockets.append($0) }
        let socket = try #require(sockets.values.first)
        let waiting = Task { try await socket.emitWithAck("question", timeout: .seconds(30)) }
        _ = try await eventually(client) { !$0.isEmpty }
        try await client.drop()
        let result = await waiting.result
        #expect(throws: SocketDisconnectedError.self) { try result.get() }
    }

    @Test func binaryArgumentsArriveAsData() async throws {
        let seen = Recorder<Upload>()
        let client = try await connectedClient { socket in
            socket.on("upload") { event in seen.append(try event.argument(0, as: Upload.self)) }
        }
        try await client.receive(#"51-["upload",{"name":"a.bin","bytes":{"_placeholder":true,"num":0}}]"#)
        #expect(seen.values.isEmpty)
        try await client.receive(binary: [1, 2, 3])
        #expect(seen.values == [Upload(name: "a.bin", bytes: Data([1, 2, 3]))])
    }

    @Test func dataInEmittedArgumentsTravelsAsAttachments() async throws {
        let sockets = Recorder<Socket>()
        let client = try await connectedClient { sockets.append($0) }
        try #require(sockets.values.first).emit("file", Upload(name: "x", bytes: Data([0xCA, 0xFE])), Data([7]))
        #expect(await client.takeSent() == [
            #"52-["file",{"bytes":{"_placeholder":true,"num":0},"name":"x"},{"_placeholder":true,"num":1}]"#,
            "<binary:cafe>",
            "<binary:07>",
        ])
    }

    @Test func binaryAcksGoBothWays() async throws {
        let sockets = Recorder<Socket>()
        let client = try await connectedClient { socket in
            sockets.append(socket)
            socket.on("echo") { event in try event.ack(try event.argument(0, as: Data.self)) }
        }
        try await client.receive(#"51-3["echo",{"_placeholder":true,"num":0}]"#)
        try await client.receive(binary: [9, 9])
        #expect(await client.takeSent() == [#"61-3[{"_placeholder":true,"num":0}]"#, "<binary:0909>"])

        let socket = try #require(sockets.values.first)
        async let answer = socket.emitWithAck("send me bytes", timeout: .seconds(5))
        let packet = try #require(try await eventually(client) { !$0.isEmpty }.first)
        let id = packet.dropFirst().prefix { $0.isNumber }
        try await client.receive("61-\(id)[{\"_placeholder\":true,\"num\":0}]")
        try await client.receive(binary: [4, 2])
        #expect(try await answer.decode(Data.self, at: 0) == Data([4, 2]))
    }

    @Test func anEventForANamespaceNotJoinedIsIgnored() async throws {
        let seen = Recorder<String>()
        server.of("/other").onConnection { socket in socket.onAny { seen.append($0.name) } }
        let client = try await connectedClient()
        // Another client is in /other, so its handlers are live for sockets that joined.
        let member = try await InMemoryTransport(server: server, eventLoop: loop)
        try await member.receive("0/other,")
        #expect(await member.takeSent().first?.hasPrefix(#"0/other,{"sid":"#) == true)

        try await client.receive(#"2/other,["hello"]"#)
        try await member.receive(#"2/other,["from the member"]"#)
        #expect(seen.values == ["from the member"])
        #expect(client.closeReason == nil)
        #expect(await client.takeSent() == [])
    }

    @Test func aThrowingHandlerIsLoggedAndTheConnectionLives() async throws {
        struct Boom: Error {}
        let client = try await connectedClient { socket in
            socket.on("fail") { _ in throw Boom() }
            socket.on("ok") { event in try event.ack("fine") }
        }
        try await client.receive(#"21["fail"]"#)
        try await client.receive(#"22["ok"]"#)
        #expect(await client.takeSent() == [#"32["fine"]"#])
        #expect(client.closeReason == nil)
    }

    @Test func rawArgumentsAreForwardedByteForByte() async throws {
        let client = try await connectedClient { socket in
            socket.on("echo") { event in event.ack(arguments: event.arguments) }
            socket.on("relay") { event in event.socket.emit("relayed", arguments: event.arguments.dropFirst()) }
        }
        try await client.receive(#"25["echo", 2.0, {"b":1,"a":"\u00e9"} ,[ ]]"#)
        #expect(await client.takeSent() == [#"35[2.0, {"b":1,"a":"\u00e9"} ,[ ]]"#])
        try await client.receive(#"51-["relay","skip me",{"_placeholder":true,"num":0}]"#)
        try await client.receive(binary: [0xAB])
        #expect(await client.takeSent() == [#"51-["relayed",{"_placeholder":true,"num":0}]"#, "<binary:ab>"])
        try await client.receive(#"2["relay","only"]"#)
        #expect(await client.takeSent() == [#"2["relayed"]"#])
    }

    @Test func anArrayOfValuesCanAcknowledge() async throws {
        let client = try await connectedClient { socket in
            socket.on("list") { event in try event.ack(contentsOf: [1, "two", 3.5]) }
        }
        try await client.receive(#"24["list"]"#)
        #expect(await client.takeSent() == [#"34[1,"two",3.5]"#])
    }
}
