import Foundation
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Parley
import ParleyEngine
import ParleyProtocol
import ParleyTesting
import Testing

/// The Socket.IO server end to end on loopback, played by raw WebSocket and polling clients.
@Suite("Socket.IO server (live)")
struct SocketServerLiveTests {
    /// A started server on a free port; `setUp` registers handlers before it listens.
    static func start(_ setUp: (SocketServer) -> Void) async throws -> (SocketServer, Int) {
        var configuration = SocketServerConfiguration()
        configuration.engine.address = .hostname("127.0.0.1", port: 0)
        let server = SocketServer(configuration: configuration)
        setUp(server)
        let address = try await server.start()
        return (server, address.port!)
    }

    static func webSocket(port: Int) async throws -> RawWebSocket {
        let socket = try await RawWebSocket.connect(port: port, uri: "/socket.io/?EIO=4&transport=websocket")
        #expect(try await socket.nextText().hasPrefix("0{\"sid\":"))
        return socket
    }

    @Test func aWebSocketClientConnectsEmitsAndIsAcknowledged() async throws {
        let (server, port) = try await Self.start { server in
            server.onConnection { socket in
                try? socket.emit("welcome", socket.id)
                socket.on("add") { event in try event.ack(try event.arguments.decode([Int].self).reduce(0, +)) }
            }
        }
        defer { Task { await server.shutdown() } }
        let client = try await Self.webSocket(port: port)
        client.send(text: "40")
        let reply = try await client.nextText()
        #expect(reply.hasPrefix("40{\"sid\":\""))
        let sid = String(reply.dropFirst(10).prefix(20))
        #expect(try await client.nextText() == "42[\"welcome\",\"\(sid)\"]")
        client.send(text: #"4211["add",1,2,3]"#)
        #expect(try await client.nextText() == "4311[6]")
    }

    @Test func binaryTravelsAsSeparateFramesBothWays() async throws {
        let (server, port) = try await Self.start { server in
            server.onConnection { socket in
                socket.on("echo") { event in try event.ack(try event.argument(0, as: Data.self)) }
            }
        }
        defer { Task { await server.shutdown() } }
        let client = try await Self.webSocket(port: port)
        client.send(text: "40")
        _ = try await client.nextText()
        client.send(text: #"451-5["echo",{"_placeholder":true,"num":0}]"#)
        client.send(binary: [0xDE, 0xAD])
        #expect(try await client.nextText() == #"461-5[{"_placeholder":true,"num":0}]"#)
        let frame = try #require(try await client.nextFrame())
        #expect(frame.opcode == .binary)
        #expect(Array(frame.unmaskedData.readableBytesView) == [0xDE, 0xAD])
    }

    @Test func aBroadcastReachesPollingAndWebSocketClientsAlike() async throws {
        let (server, port) = try await Self.start { server in
            server.onConnection { socket in
                socket.join("lobby")
                socket.on("say") { event in try socket.to("lobby").emit("said", try event.argument(0, as: String.self)) }
            }
        }
        defer { Task { await server.shutdown() } }
        let ws = try await Self.webSocket(port: port)
        ws.send(text: "40")
        _ = try await ws.nextText()

        let http = try await RawHTTPConnection.connect(port: port)
        let open = try await http.request("GET", "/socket.io/?EIO=4&transport=polling").text
        let sid = String(open.dropFirst(9).prefix(20))
        let uri = "/socket.io/?EIO=4&transport=polling&sid=\(sid)"
        #expect(try await http.request("POST", uri, text: "40").text == "ok")
        #expect(try await http.request("GET", uri).text.hasPrefix("40{\"sid\":"))

        ws.send(text: #"42["say","from ws"]"#)
        #expect(try await http.request("GET", uri).text == #"42["said","from ws"]"#)
        #expect(try await http.request("POST", uri, text: #"42["say","from polling"]"#).text == "ok")
        #expect(try await ws.nextText() == #"42["said","from polling"]"#)
    }

    @Test func malformedPacketsCloseOnlyThatConnection() async throws {
        let reasons = Recorder<String>()
        let (server, port) = try await Self.start { server in
            server.onConnection { socket in socket.onDisconnect { reasons.append($0.code.description) } }
        }
        defer { Task { await server.shutdown() } }
        let good = try await Self.webSocket(port: port)
        good.send(text: "40")
        _ = try await good.nextText()
        let bad = try await Self.webSocket(port: port)
        bad.send(text: "40")
        _ = try await bad.nextText()
        bad.send(text: #"42{"not":"an array"}"#)
        #expect(try await bad.closeCode() == .protocolError)
        for _ in 0..<100 where reasons.values.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        #expect(reasons.values == ["parse error"])
        good.send(text: #"42["still","here"]"#)
        good.send(text: "41")
        for _ in 0..<100 where reasons.values.count < 2 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(reasons.values == ["parse error", "client namespace disconnect"])
    }

    @Test func shutdownDisconnectsSocketsWithServerShuttingDown() async throws {
        let reasons = Recorder<String>()
        let (server, port) = try await Self.start { server in
            server.onConnection { socket in socket.onDisconnect { reasons.append($0.code.description) } }
        }
        let client = try await Self.webSocket(port: port)
        client.send(text: "40")
        _ = try await client.nextText()
        await server.shutdown()
        #expect(try await client.nextText() == "1")
        #expect(reasons.values == ["server shutting down"])
    }

    @Test func theServerServesConfiguredStaticFiles() async throws {
        var configuration = SocketServerConfiguration()
        configuration.engine.address = .hostname("127.0.0.1", port: 0)
        configuration.engine.staticFiles["/"] = StaticFile(contentType: "text/html; charset=utf-8", body: ByteBuffer(string: "<h1>hi</h1>"))
        let server = SocketServer(configuration: configuration)
        server.of("/")
        let port = try await server.start().port!
        defer { Task { await server.shutdown() } }
        let http = try await RawHTTPConnection.connect(port: port)
        let page = try await http.request("GET", "/")
        #expect(page.text == "<h1>hi</h1>")
        #expect(page.headers.first(name: "content-type") == "text/html; charset=utf-8")
        #expect(try await http.request("GET", "/missing").status == .notFound)
    }
}
