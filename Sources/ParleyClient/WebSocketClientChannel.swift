import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

/// Opens WebSocket connections for a client (`ws`, or `wss` with the configured TLS settings or
/// the system's trust roots) and hands them over as `NIOAsyncChannel`s.
struct WebSocketConnector: Sendable {
    let endpoint: ClientEndpoint
    let headers: HTTPHeaders
    let tlsConfiguration: TLSConfiguration?
    let group: any EventLoopGroup
    let maxFrameSize: Int

    enum UpgradeResult: Sendable {
        case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>)
        case notUpgraded
    }

    /// Connects and completes the WebSocket handshake for session `sid` (`nil` opens a new one).
    func connect(sid: String?) async throws -> NIOAsyncChannel<WebSocketFrame, WebSocketFrame> {
        let endpoint = self.endpoint
        var headers = self.headers
        headers.replaceOrAdd(name: "Host", value: "\(endpoint.host):\(endpoint.port)")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: endpoint.target(transport: "websocket", sid: sid), headers: headers)
        let maxFrameSize = self.maxFrameSize
        let tls = endpoint.secure ? try NIOSSLContext(configuration: tlsConfiguration ?? .makeClientConfiguration()) : nil
        let result: EventLoopFuture<UpgradeResult> = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: endpoint.host, port: endpoint.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        // SNI carries host names only; an IP literal is checked against the
                        // certificate's IP addresses without it.
                        let isIPAddress = (try? SocketAddress(ipAddress: endpoint.host, port: 0)) != nil
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: isIPAddress ? nil : endpoint.host))
                    }
                    let upgrader = NIOTypedWebSocketClientUpgrader<UpgradeResult>(
                        maxFrameSize: maxFrameSize,
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(
                                    NIOWebSocketFrameAggregator(minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 4096, maxAccumulatedFrameSize: maxFrameSize)
                                )
                                return UpgradeResult.websocket(try NIOAsyncChannel(wrappingChannelSynchronously: channel))
                            }
                        }
                    )
                    let configuration = NIOTypedHTTPClientUpgradeConfiguration(
                        upgradeRequestHead: head,
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in
                            channel.close(promise: nil)
                            return channel.eventLoop.makeSucceededFuture(UpgradeResult.notUpgraded)
                        }
                    )
                    var pipeline = NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: configuration)
                    // The server's first frame (the open packet) often shares a read with the
                    // 101 response: those bytes must reach the WebSocket decoder.
                    pipeline.leftOverBytesStrategy = .forwardBytes
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(configuration: pipeline)
                }
            }
        switch try await result.get() {
        case .websocket(let channel): return channel
        case .notUpgraded: throw TransportError.webSocketRefused
        }
    }
}
