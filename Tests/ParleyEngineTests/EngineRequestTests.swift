import NIOHTTP1
import ParleyEngine
import Testing

@Suite("Engine request")
struct EngineRequestTests {
    static func request(_ uri: String) -> EngineRequest {
        EngineRequest(method: .GET, uri: uri, headers: ["Host": "example"], remoteAddress: nil)
    }

    @Test func splitsPathAndQuery() {
        let request = Self.request("/socket.io/?EIO=4&transport=polling&t=PQx3")
        #expect(request.path == "/socket.io/")
        #expect(request.query == ["EIO": "4", "transport": "polling", "t": "PQx3"])
        #expect(request.queryValue("transport") == "polling")
        #expect(request.queryValue("sid") == nil)
    }

    @Test func decodesPercentEscapesAndPlusInNamesAndValues() {
        let request = Self.request("/x?room=caf%C3%A9+au+lait&na%6De=v&empty=&flag")
        #expect(request.queryValue("room") == "café au lait")
        #expect(request.queryValue("name") == "v")
        #expect(request.queryValue("empty") == "")
        #expect(request.queryValue("flag") == "")
        #expect(request.query["room"] == "café au lait")
    }

    @Test func theLastOfARepeatedNameWins() {
        let request = Self.request("/x?sid=a&&sid=b&other=c")
        #expect(request.queryValue("sid") == "b")
        #expect(request.query["sid"] == "b")
    }

    @Test func aURIWithoutQueryHasNone() {
        let request = Self.request("/socket.io/")
        #expect(request.path == "/socket.io/")
        #expect(request.query.isEmpty)
        #expect(request.queryValue("EIO") == nil)
    }
}
