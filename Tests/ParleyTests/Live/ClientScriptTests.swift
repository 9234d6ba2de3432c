import Foundation
import NIOCore
import NIOHTTP1
import Parley
import ParleyEngine
import ParleyTesting
import Testing

/// The browser client every server serves at `/parley.js` (`Protocol/engine.md` § 13).
@Suite("Client script (live)")
struct ClientScriptTests {
    /// The script as it is in the repository now; the server must serve exactly this.
    static func scriptOnDisk() throws -> [UInt8] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return Array(try Data(contentsOf: root.appendingPathComponent("Sources/Parley/Resources/parley.js")))
    }

    /// A started server on a free port with the main namespace, after `configure`.
    static func start(_ configure: (inout SocketServerConfiguration) -> Void = { _ in }) async throws -> (SocketServer, RawHTTPConnection) {
        var configuration = SocketServerConfiguration()
        configure(&configuration)
        configuration.engine.address = .hostname("127.0.0.1", port: 0)
        let server = SocketServer(configuration: configuration)
        server.of("/")
        let port = try await server.start().port!
        return (server, try await RawHTTPConnection.connect(port: port))
    }

    @Test func theServerServesTheScriptByteForByteAsAJavaScriptModuleAnyOriginMayImport() async throws {
        let script = try Self.scriptOnDisk()
        let (server, http) = try await Self.start()
        defer { Task { await server.shutdown() } }
        let response = try await http.request("GET", "/parley.js", headers: [("Origin", "https://elsewhere.example")])
        #expect(response.status == .ok)
        #expect(response.headers.first(name: "content-type") == "text/javascript; charset=utf-8")
        #expect(response.headers["access-control-allow-origin"] == ["*"])
        #expect(response.headers.first(name: "cache-control") == "no-cache")
        let etag = try #require(response.headers.first(name: "etag"))
        #expect(etag.count > 2 && etag.hasPrefix("\"") && etag.hasSuffix("\""))
        #expect(Array(response.body.readableBytesView) == script)
    }

    @Test func headAnswersWithTheScriptsHeadersAndNoBody() async throws {
        let script = try Self.scriptOnDisk()
        let (server, http) = try await Self.start()
        defer { Task { await server.shutdown() } }
        let head = try await http.request("HEAD", "/parley.js")
        #expect(head.status == .ok)
        #expect(head.body.readableBytes == 0)
        #expect(head.headers.first(name: "content-type") == "text/javascript; charset=utf-8")
        #expect(head.headers.first(name: "content-length") == String(script.count))
        #expect(head.headers.first(name: "etag") != nil)
    }

    @Test func aRequestNamingTheCurrentEntityTagIsAnsweredNotModified() async throws {
        let script = try Self.scriptOnDisk()
        let (server, http) = try await Self.start()
        defer { Task { await server.shutdown() } }
        let etag = try #require(try await http.request("GET", "/parley.js").headers.first(name: "etag"))
        let revalidated = try await http.request("GET", "/parley.js", headers: [("If-None-Match", etag)])
        #expect(revalidated.status == .notModified)
        #expect(revalidated.body.readableBytes == 0)
        #expect(revalidated.headers.first(name: "etag") == etag)
        let stale = try await http.request("GET", "/parley.js", headers: [("If-None-Match", "\"an-older-version\"")])
        #expect(stale.status == .ok)
        #expect(Array(stale.body.readableBytesView) == script)
    }

    @Test func turningTheSwitchOffLeavesThePathNotFound() async throws {
        let (server, http) = try await Self.start { $0.servesClientScript = false }
        defer { Task { await server.shutdown() } }
        #expect(try await http.request("GET", "/parley.js").status == .notFound)
    }

    @Test func anApplicationDocumentAtThePathIsServedInstead() async throws {
        let (server, http) = try await Self.start { configuration in
            configuration.engine.staticFiles["/parley.js"] = StaticFile(contentType: "text/javascript", body: ByteBuffer(string: "export {};"))
        }
        defer { Task { await server.shutdown() } }
        let response = try await http.request("GET", "/parley.js")
        #expect(response.text == "export {};")
        #expect(response.headers.first(name: "content-type") == "text/javascript")
        #expect(response.headers.first(name: "etag") == nil)
    }

    @Test func theSocketIOEndpointWorksNextToTheScript() async throws {
        let (server, http) = try await Self.start()
        defer { Task { await server.shutdown() } }
        #expect(try await http.request("GET", "/parley.js").status == .ok)
        let open = try await http.request("GET", "/socket.io/?EIO=4&transport=polling").text
        #expect(open.hasPrefix("0{\"sid\":\""))
        let uri = "/socket.io/?EIO=4&transport=polling&sid=\(open.dropFirst(9).prefix(20))"
        #expect(try await http.request("POST", uri, text: "40").text == "ok")
        #expect(try await http.request("GET", uri).text.hasPrefix("40{\"sid\":"))
        #expect(try await http.request("GET", "/parley.js").status == .ok)
    }
}
