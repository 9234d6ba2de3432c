import NIOHTTP1

/// A plain WebSocket echo endpoint on the engine's own WebSocket code, for conformance suites
/// (Autobahn|Testsuite) that speak raw RFC 6455 rather than Engine.IO: every text and binary
/// message comes back unchanged in one frame, pings are answered, closes are echoed.
///
/// The upgrade, the frame parser, the frame writer and the close handshake are exactly those of
/// an engine WebSocket (``EngineWebSocketUpgrader``, ``WebSocketFrameParser``,
/// ``EngineWebSocketHandler``); only the Engine.IO packet layer and the session are left out.
/// Never enable it on a production server.
@_spi(Testing)
public enum RawWebSocketEcho {
    /// Whether a WebSocket upgrade request for `uri` is served as a raw echo under
    /// `configuration` (its path, without query, equals ``EngineConfiguration/rawWebSocketEchoPath``).
    public static func serves(uri: String, configuration: EngineConfiguration) -> Bool {
        guard let echoPath = configuration.rawWebSocketEchoPath else { return false }
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return path == echoPath
    }

    /// The extra headers of the `101` answer to a raw echo upgrade, or `nil` when `head` is not one.
    static func upgradeHeaders(_ head: HTTPRequestHead, core: EngineServerCore) -> HTTPHeaders? {
        guard serves(uri: head.uri, configuration: core.configuration) else { return nil }
        return core.cors.responseHeaders(for: head.headers)
    }
}
