import NIOCore
import NIOEmbedded
import Parley
import ParleyEngine
import ParleyProtocol
import ParleyTesting
import Testing

/// Malformed Socket.IO packets close that connection with `parse error`, never the server
/// (PROTOCOL-NOTES §2.4, `Protocol/socket.md` § Validation).
@Suite("Packet validation")
struct PacketValidationTests {
    static let malformed: [String] = [
        #"0"hello""#,  // CONNECT payload not an object
        #"1{}"#,  // DISCONNECT with a payload
        #"2{"a":1}"#,  // EVENT payload not an array
        #"2[]"#,  // EVENT without a name
        #"2["connect"]"#,  // reserved event name
        #"2["disconnecting",1]"#,  // reserved event name
        #"2[{}]"#,  // event name neither string nor number
        #"3["x"]"#,  // ACK without id
        #"3abc"#,  // ACK with non-numeric id and no array
        #"31{"a":1}"#,  // ACK payload not an array
        #"5x-["a",{"_placeholder":true,"num":0}]"#,  // non-numeric attachment count
        #"511-["a"]"#,  // more attachments than allowed
        #"8["a"]"#,  // unknown packet type
        #"2["a",]"#,  // bad JSON
        #"4{"message":"x"}"#,  // CONNECT_ERROR from a client
    ]

    @Test(arguments: malformed)
    func aMalformedPacketClosesTheConnectionWithParseError(_ packet: String) async throws {
        let loop = NIOAsyncTestingEventLoop()
        let server = SocketServer(configuration: SocketServerConfiguration())
        let reasons = Recorder<String>()
        server.onConnection { socket in socket.onDisconnect { reasons.append($0.code.description) } }
        let bystander = try await InMemoryTransport(server: server, eventLoop: loop)
        try await bystander.receive("0")
        let client = try await InMemoryTransport(server: server, eventLoop: loop)
        try await client.receive("0")
        try await client.receive(packet)
        #expect(client.closeReason?.code == .parseError)
        #expect(reasons.values == ["parse error"])
        #expect(bystander.closeReason == nil)
        #expect(server.of("/").sockets.count == 1)
    }

    @Test func textInTheMiddleOfAttachmentsIsAParseError() async throws {
        let loop = NIOAsyncTestingEventLoop()
        let server = SocketServer(configuration: SocketServerConfiguration())
        server.of("/")
        let client = try await InMemoryTransport(server: server, eventLoop: loop)
        try await client.receive("0")
        try await client.receive(#"51-["a",{"_placeholder":true,"num":0}]"#)
        try await client.receive(#"2["b"]"#)
        #expect(client.closeReason?.code == .parseError)
    }

    @Test func anUnexpectedBinaryMessageIsAParseError() async throws {
        let loop = NIOAsyncTestingEventLoop()
        let server = SocketServer(configuration: SocketServerConfiguration())
        server.of("/")
        let client = try await InMemoryTransport(server: server, eventLoop: loop)
        try await client.receive("0")
        try await client.receive(binary: [1])
        #expect(client.closeReason?.code == .parseError)
    }
}
