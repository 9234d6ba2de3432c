import NIOCore
import NIOHTTP1
import ParleyProtocol

/// Accepts WebSocket upgrades (RFC 6455 § 4.2) for the engine: it checks the handshake
/// headers, asks the engine whether the request may become a WebSocket, and then puts the
/// engine's own ``EngineWebSocketHandler`` on the connection — and nothing else: frames are
/// parsed and written by that handler, so a WebSocket connection carries one handler.
struct EngineWebSocketUpgrader: HTTPServerProtocolUpgrader, Sendable {
    /// Why an upgrade request is not upgraded; the request then goes on as plain HTTP and the
    /// engine answers it (`400`).
    enum Refusal: Error {
        case missingOrRepeatedHeader(String)
        case unsupportedVersion
        case refusedByEngine
    }

    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    let core: EngineServerCore

    var supportedProtocol: String { "websocket" }
    // Checked in `buildUpgradeResponse`: NIO would also want these named in `Connection`.
    var requiredUpgradeHeaders: [String] { [] }

    func buildUpgradeResponse(channel: any Channel, upgradeRequest: HTTPRequestHead, initialResponseHeaders: HTTPHeaders) -> EventLoopFuture<HTTPHeaders> {
        channel.eventLoop.makeCompletedFuture {
            let keys = upgradeRequest.headers[canonicalForm: "sec-websocket-key"]
            guard keys.count == 1, let key = keys.first else { throw Refusal.missingOrRepeatedHeader("Sec-WebSocket-Key") }
            let versions = upgradeRequest.headers[canonicalForm: "sec-websocket-version"]
            guard versions.count == 1 else { throw Refusal.missingOrRepeatedHeader("Sec-WebSocket-Version") }
            guard versions.first == "13" else { throw Refusal.unsupportedVersion }
            guard var headers = EngineServer.shouldUpgrade(channel, upgradeRequest, core: core) else { throw Refusal.refusedByEngine }
            headers.replaceOrAdd(name: "Upgrade", value: "websocket")
            headers.add(name: "Sec-WebSocket-Accept", value: Self.acceptValue(forKey: String(key)))
            headers.replaceOrAdd(name: "Connection", value: "upgrade")
            return headers
        }
    }

    func upgrade(context: ChannelHandlerContext, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<Void> {
        let request = EngineRequest(method: upgradeRequest.method, uri: upgradeRequest.uri, headers: upgradeRequest.headers, remoteAddress: context.channel.remoteAddress)
        let rawEcho = RawWebSocketEcho.serves(uri: upgradeRequest.uri, configuration: core.configuration)
        let handler = EngineWebSocketHandler(core: core, request: request, sid: request.queryValue("sid"), rawEcho: rawEcho)
        return context.eventLoop.makeCompletedFuture {
            try context.pipeline.syncOperations.addHandler(handler)
        }
    }

    /// `Sec-WebSocket-Accept`: base64 of the SHA-1 of the key and the protocol's GUID.
    static func acceptValue(forKey key: String) -> String {
        let digest = SHA1.digest(Array((key + guid).utf8))
        var encoded = ByteBuffer()
        Base64.encode(ByteBuffer(bytes: digest).readableBytesView, into: &encoded)
        return String(buffer: encoded)
    }
}
