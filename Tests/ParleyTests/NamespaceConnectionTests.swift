import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Parley
import ParleyEngine
import ParleyProtocol
import ParleyTesting
import Testing

/// Namespace connection semantics through an in-memory transport (PROTOCOL-NOTES §2.5,
/// `Protocol/socket.md` § Joining a namespace).
@Suite("Namespace connection")
struct NamespaceConnectionTests {
    let loop = NIOAsyncTestingEventLoop()
    let server = SocketServer(configuration: SocketServerConfiguration())

    @Test func aConnectIsAnsweredWithASocketIdDistinctFromTheSessionId() async throws {
        server.of("/")
        let client = try await InMemoryTransport(server: server, eventLoop: loop)
        try await client.receive("0")
        let sent = await client.takeSent()
        #expect(sent.count == 1)
        let reply = try #require(sent.first)
        #expect(reply.hasPrefix("0{\"sid\":\""))
        #expect(!reply.contains(client.id))
        #expect(server.of("/").sockets.count == 1)
    }

    @Test func theMainNamespaceExistsOnlyWhenUsed() async throws {
        server.of("/chat")
        let client = try await InMemoryTransport(server: server, eventLoop: loop)
        try await client.receive("0")
        #expect(await client.takeSent() == [#"4{"message":"Invalid namespace"}"#])
        try await client.receive("0/chat,")
        #expect(await client.takeSent().first?.hasPrefix("0/chat,{\"sid\":") == true)
    }

    @Test func anUnknownNamespaceIsRefused() async throws {
        server.of("/")
        let client = try await InMemoryTransport(server: server, eventLoop: loop)
        try await client.receive("0/random,")
        #expect(await client.takeSent() == [#"4/random,{"message":"Invalid namespace"}"#])
        #expect(client.closeReason == nil)
    }

    @Test func dynamicNamespacesAreCreatedOnDemandAndInheritHandlers() async throws {
        let parent = server.of(matching: { $0.hasPrefix("/room-") })
        let seen = Recorder<String>()
        parent.onConnection { socket in seen.append(socket.namespace.name) }
        let client = try await InMemoryTransport(server: server, eventLoop: loop)
        try await client.receive("0/room-42,")
        #expect(await client.takeSent().first?.hasPrefix("0/room-42,{\"sid\":") == true)
        #expect(seen.values == ["/room-42"])
        try await client.receive("0/other,")
        #expect(await client.takeSent() == [#"4/other,{"message":"Invalid namespace"}"#])
    }

    @Test func middlewaresRunInOrderAndTheirRefusalReachesTheClient() async throws {
        let order = Recorder<String>()
        let admin = server.of("/admin")
        admin.use { _ in order.append("first") }
        admin.use { handshake in
            order.append("second")
            struct Auth: Decodable { let token: String }
            guard try handshake.auth(as: Auth.self)?.token == "secret" else {
                throw ConnectError("not authorized", data: ["code": 42])
            }
        }
        admin.onConnection { _ in order.append("connection") }
        let client = try await InMemoryTransport(server: server, eventLoop: loop)
        try await client.receive(#"0/admin,{"token":"wrong"}"#)
        let refusal = try await eventually(client) { !$0.isEmpty }
        #expect(refusal == [#"4/admin,{"message":"not authorized","data":{"code":42}}"#])
        try await client.receive(#"0/admin,{"token":"secret"}"#)
        let accepted = try await eventually(client) { !$0.isEmpty }
        #expect(accepted.first?.hasPrefix("0/admin,{\"sid\":") == true)
        #expect(order.values == ["first", "second", "first", "second", "connection"])
    }

    @Test func emitsInTheConnectionHandlerArriveAfterTheConnectReply() async throws {
        server.onConnection { socket in try? socket.emit("welcome", "hi") }
        let client = try await InMemoryTransport(server: server, eventLoop: loop)
        try await client.receive("0")
        let sent = await client.takeSent()
        #expect(sent.count == 2)
        #expect(sent.first?.hasPrefix("0{") == true)
        #expect(sent.last == #"2["welcome","hi"]"#)
    }

    @Test func aConnectionWithoutConnectIsClosedAfterTheConnectTimeout() async throws {
        var configuration = SocketServerConfiguration()
        configuration.connectTimeout = .seconds(45)
        let server = SocketServer(configuration: configuration)
        server.of("/")
        let client = try await InMemoryTransport(server: server, eventLoop: loop)
        await client.advanceTime(by: .seconds(44))
        #expect(client.closeReason == nil)
        await client.advanceTime(by: .seconds(1))
        #expect(client.closeReason?.code == .forcedClose)
    }

    @Test func leavingOneNamespaceKeepsTheOthers() async throws {
        server.of("/")
        server.of("/chat")
        let reasons = Recorder<String>()
        server.onConnection { socket in socket.onDisconnect { reasons.append("main: \($0.code)") } }
        server.of("/chat").onConnection { socket in socket.onDisconnect { reasons.append("chat: \($0.code)") } }
        let client = try await InMemoryTransport(server: server, eventLoop: loop)
        try await client.receive("0")
        try await client.receive("0/chat,")
        try await client.receive("1/chat,")
        _ = await client.takeSent()
        #expect(reasons.values == ["chat: client namespace disconnect"])
        #expect(server.of("/").sockets.count == 1)
        #expect(client.closeReason == nil)
        try await client.drop()
        #expect(reasons.values == ["chat: client namespace disconnect", "main: transport close"])
    }
}

/// Collects values from handlers that run on other threads.
final class Recorder<Value: Sendable>: Sendable {
    private let storage = NIOLockedValueBox<[Value]>([])
    func append(_ value: Value) { storage.withLockedValue { $0.append(value) } }
    var values: [Value] { storage.withLockedValue { $0 } }
}

/// What the server sent, once `condition` holds; middlewares run in tasks, so their answer
/// comes a little later. Bounded: 200 checks, 5 ms apart.
func eventually(_ client: InMemoryTransport, _ condition: ([String]) -> Bool) async throws -> [String] {
    var collected: [String] = []
    for _ in 0..<200 {
        collected += await client.takeSent()
        if condition(collected) { return collected }
        try await Task.sleep(for: .milliseconds(5))
    }
    Issue.record("condition never held; got \(collected)")
    return collected
}
