import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// The handlers of one accepted connection: HTTP/1.1 with pipelining assistance and error
/// handling, the WebSocket upgrader, the idle timeout and the engine's HTTP handler.
///
/// NIO's upgrade handler only looks at the first request it sees and then leaves the
/// pipeline. Clients reuse keep-alive connections (a polling handshake, then the WebSocket
/// upgrade on the same socket), so a small gate watches every request head and puts a fresh
/// upgrade handler in place right before a request that asks for an upgrade; plain polling
/// requests pay nothing for it. Event-loop confined; not `Sendable`.
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
    private var gate: UpgradeGate?
    private let upgrader: EngineWebSocketUpgrader

    init(channel: any Channel, core: EngineServerCore) {
        self.channel = channel
        self.core = core
        self.idle = IdleStateHandler(readTimeout: TimeAmount(core.configuration.idleConnectionTimeout))
        self.upgrader = EngineWebSocketUpgrader(core: core)
    }

    /// Adds every handler to the channel.
    func install() throws {
        let http = EngineHTTPHandler(core: core, pipeline: self)
        self.http = http
        let gate = UpgradeGate(pipeline: self)
        self.gate = gate
        let sync = channel.pipeline.syncOperations
        try sync.addHandlers(encoder, decoder, pipelining, errors, gate, idle, http)
    }

    /// Puts a fresh upgrade handler right behind the gate, for the request head on its way.
    fileprivate func armUpgrade() {
        guard let gate else { return }
        let sync = channel.pipeline.syncOperations
        if let upgrade, (try? sync.context(handler: upgrade)) != nil { return }
        let handler = HTTPServerUpgradeHandler(
            upgraders: [upgrader],
            httpEncoder: encoder,
            extraHTTPHandlers: [decoder, pipelining, errors, gate],
            upgradeCompletionHandler: { [weak self] _ in self?.upgraded() }
        )
        upgrade = handler
        do {
            try sync.addHandler(handler, position: .after(gate))
        } catch {
            core.logger.debug("could not arm the WebSocket upgrade", metadata: ["parley.error": "\(error)"])
        }
    }

    /// The connection now speaks WebSocket: the HTTP-only handlers go.
    private func upgraded() {
        let sync = channel.pipeline.syncOperations
        if let http { sync.removeHandler(http, promise: nil) }
        sync.removeHandler(idle, promise: nil)
    }
}

/// Arms the WebSocket upgrade in front of each request head that asks for an upgrade.
private final class UpgradeGate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart

    /// Weak: the HTTP handler owns the pipeline object, and the channel pipeline owns both.
    private weak var pipeline: EngineConnectionPipeline?

    init(pipeline: EngineConnectionPipeline) {
        self.pipeline = pipeline
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data), head.headers.contains(name: "upgrade") {
            pipeline?.armUpgrade()
        }
        context.fireChannelRead(data)
    }
}
