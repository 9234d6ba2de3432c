import NIOCore
import NIOHTTP1
@testable import ParleyEngine
import ParleyTesting
import Testing

/// Static documents next to the engine endpoint: headers, entity tags and conditional requests
/// (`Protocol/engine.md` § 13).
@Suite("Static files (live)")
struct StaticFileTests {
    static let script = StaticFile(
        contentType: "text/javascript; charset=utf-8",
        body: ByteBuffer(string: "export const answer = 42;\n"),
        headers: ["Access-Control-Allow-Origin": "*"],
        entityTag: "1a-2b3c"
    )

    static func start(cors: CORSConfiguration? = nil) async throws -> EngineTestServer {
        try await EngineTestServer.start { configuration in
            configuration.cors = cors
            configuration.staticFiles["/app.js"] = script
            configuration.staticFiles["/"] = StaticFile(contentType: "text/html", body: ByteBuffer(string: "<p>hi</p>"))
        }
    }

    @Test func aDocumentWithAnEntityTagIsServedWithItsHeadersAndRevalidated() async throws {
        let server = try await Self.start()
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let response = try await connection.request("GET", "/app.js")
        #expect(response.status == .ok)
        #expect(response.text == "export const answer = 42;\n")
        #expect(response.headers.first(name: "content-type") == "text/javascript; charset=utf-8")
        #expect(response.headers.first(name: "etag") == "\"1a-2b3c\"")
        #expect(response.headers.first(name: "cache-control") == "no-cache")
        #expect(response.headers["access-control-allow-origin"] == ["*"])
    }

    @Test func aMatchingIfNoneMatchIsAnsweredNotModifiedWithoutABody() async throws {
        let server = try await Self.start()
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        for field in ["\"1a-2b3c\"", "W/\"1a-2b3c\"", "\"old\", \"1a-2b3c\"", "*"] {
            let response = try await connection.request("GET", "/app.js", headers: [("If-None-Match", field)])
            #expect(response.status == .notModified, "If-None-Match: \(field)")
            #expect(response.body.readableBytes == 0)
            #expect(response.headers.first(name: "etag") == "\"1a-2b3c\"")
        }
        let stale = try await connection.request("GET", "/app.js", headers: [("If-None-Match", "\"old\"")])
        #expect(stale.status == .ok)
        #expect(stale.text == "export const answer = 42;\n")
        // The connection still frames requests after the bodiless answers.
        #expect(try await connection.request("GET", "/").text == "<p>hi</p>")
    }

    @Test func headAnnouncesTheLengthOfTheBodyWithoutSendingIt() async throws {
        let server = try await Self.start()
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let head = try await connection.request("HEAD", "/app.js")
        #expect(head.status == .ok)
        #expect(head.body.readableBytes == 0)
        #expect(head.headers.first(name: "content-length") == "26")
        #expect(head.headers.first(name: "etag") == "\"1a-2b3c\"")
        let notModified = try await connection.request("HEAD", "/app.js", headers: [("If-None-Match", "\"1a-2b3c\"")])
        #expect(notModified.status == .notModified)
        #expect(try await connection.request("GET", "/app.js").text == "export const answer = 42;\n")
    }

    @Test func aDocumentWithoutAnEntityTagIsNotStored() async throws {
        let server = try await Self.start()
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let page = try await connection.request("GET", "/", headers: [("If-None-Match", "*")])
        #expect(page.status == .ok)
        #expect(page.headers.first(name: "cache-control") == "no-store")
        #expect(page.headers.first(name: "etag") == nil)
    }

    @Test func aDocumentWithCORSHeadersOfItsOwnGetsNoneOfTheEngines() async throws {
        let server = try await Self.start(cors: .init(allowedOrigins: .list(["https://app.example"]), allowCredentials: true))
        defer { Task { await server.stop() } }
        let connection = try await server.connection()
        let script = try await connection.request("GET", "/app.js", headers: [("Origin", "https://app.example")])
        #expect(script.headers["access-control-allow-origin"] == ["*"])
        #expect(script.headers["access-control-allow-credentials"].isEmpty)
        #expect(script.headers["vary"].isEmpty)
        let page = try await connection.request("GET", "/", headers: [("Origin", "https://app.example")])
        #expect(page.headers["access-control-allow-origin"] == ["https://app.example"])
        #expect(page.headers["access-control-allow-credentials"] == ["true"])
    }

    @Test func anEntityTagWithAQuoteIsRefusedAtStart() async throws {
        await #expect(throws: EngineServer.ConfigurationError.self) {
            _ = try await EngineTestServer.start { configuration in
                configuration.staticFiles["/x"] = StaticFile(contentType: "text/plain", body: ByteBuffer(), entityTag: "a\"b")
            }
        }
    }

    @Test func ifNoneMatchListsAreComparedWeakly() {
        #expect(StaticFile.ifNoneMatch("\"abc\"", matches: "abc"))
        #expect(StaticFile.ifNoneMatch(" W/\"x\" ,\t\"abc\"", matches: "abc"))
        #expect(StaticFile.ifNoneMatch("*", matches: "abc"))
        #expect(!StaticFile.ifNoneMatch("\"abcd\", \"ab\"", matches: "abc"))
        #expect(!StaticFile.ifNoneMatch("abc", matches: "abc"))
        #expect(!StaticFile.ifNoneMatch("\"abc", matches: "abc"))
        #expect(!StaticFile.ifNoneMatch("", matches: "abc"))
    }
}
