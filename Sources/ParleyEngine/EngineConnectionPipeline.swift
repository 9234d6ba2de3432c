import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// The handlers of one accepted connection: HTTP/1.1 with pipelining assistance and error
/// handling, the WebSocket upgrader, the idle timeout and the engine's HTTP handler.
///
/// NIO's upgrade handler only looks at the first request of a connection and then leaves the
/// pipeline. Clients reuse keep-alive connections (a polling handshake, then the WebSocket
/// upgrade on the same socket), so after every request that did not upgrade a fresh upgrade
/// handler is put back in its place. Event-loop confined; not `Sendable`.
final class EngineConnectionPipeline {
    private let channel: any Channel
    private let core: EngineServerCore
    private let encoder = HTTPResponseEncoder()
    private let decoder = ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes))
    private let pipelining = HTTPServerPipelineHandler()
    private let errors = HTTPServerProtocolErrorHandler()
    private let idle: IdleStateHandler
    /// Weak: the HTTP handler owns this object, and the channel pipeline owns the handler.
    private weak var http: EngineHTTPHandler?
    private var upgrade: HTTPServerUpgradeHandler?
    private let upgrader: NIOWebSocketServerUpgrader

    init(channel: any Channel, core: EngineServerCore) {
        self.channel = channel
        self.core = core
        self.idle = IdleStateHandler(readTimeout: TimeAmount(core.configuration.idleConnectionTimeout))
        let maxPayload = core.configuration.maxPayloadBytes
        self.upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: maxPayload,
            automaticErrorHandling: false,
            shouldUpgrade: { channel, head in
                channel.eventLoop.makeSucceededFuture(EngineServer.shouldUpgrade(channel, head, core: core))
            },
            upgradePipelineHandler: { channel, head in
                channel.eventLoop.makeCompletedFuture {
                    let request = EngineRequest(method: head.method, uri: head.uri, headers: head.headers, remoteAddress: channel.remoteAddress)
                    // Frames go out already encoded, below NIO's frame encoder (which stays unused).
                    let writer = WebSocketFrameWriter()
                    try channel.pipeline.syncOperations.addHandler(writer, position: .first)
                    try channel.pipeline.syncOperations.addHandlers(
                        NIOWebSocketFrameAggregator(
                            minNonFinalFragmentSize: 1,
                            maxAccumulatedFrameCount: 4096,
                            maxAccumulatedFrameSize: maxPayload
                        ),
                        EngineWebSocketHandler(core: core, request: request, sid: request.query["sid"], writer: writer)
                    )
                }
            }
        )
    }

    /// Adds every handler to the channel.
    func install() throws {
        let http = EngineHTTPHandler(core: core, pipeline: self)
        self.http = http
        let sync = channel.pipeline.syncOperations
        try sync.addHandlers(encoder, decoder, pipelining, errors)
        try armUpgrade()
        try sync.addHandlers(idle, http)
    }

    /// Puts a fresh upgrade handler in front of the engine's HTTP handler, unless the current
    /// one is still waiting for its first request.
    func requestEnded() {
        do {
            try armUpgrade()
        } catch {
            core.logger.debug("could not re-arm the WebSocket upgrade", metadata: ["parley.error": "\(error)"])
        }
    }

    private func armUpgrade() throws {
        let sync = channel.pipeline.syncOperations
        if let upgrade, (try? sync.context(handler: upgrade)) != nil { return }
        let handler = HTTPServerUpgradeHandler(
            upgraders: [upgrader],
            httpEncoder: encoder,
            extraHTTPHandlers: [decoder, pipelining, errors],
            upgradeCompletionHandler: { [weak self] _ in self?.upgraded() }
        )
        upgrade = handler
        try sync.addHandler(handler, position: .after(errors))
    }

    /// The connection now speaks WebSocket: the HTTP-only handlers go.
    private func upgraded() {
        let sync = channel.pipeline.syncOperations
        if let http { sync.removeHandler(http, promise: nil) }
        sync.removeHandler(idle, promise: nil)
    }
}
