import NIOCore
import NIOWebSocket

/// Sends the WebSocket upgrade request as raw bytes, waits for the `101` response head, then
/// replaces itself with the WebSocket codec and the engine handler (forwarding any frame bytes
/// that arrived with the response).
final class WebSocketHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private static let headEnd: [UInt8] = Array("\r\n\r\n".utf8)
    private static let switching: [UInt8] = Array("HTTP/1.1 101".utf8)

    private let request: String
    private let engine: WebSocketEngineHandler
    private var received: ByteBuffer?
    private var upgraded = false

    init(request: String, engine: WebSocketEngineHandler) {
        self.request = request
        self.engine = engine
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: request)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        if received == nil {
            received = chunk
        } else {
            received!.writeBuffer(&chunk)
        }
        guard var buffer = received, let headLength = Self.headLength(of: buffer) else { return }
        received = nil
        guard buffer.readableBytesView.starts(with: Self.switching) else {
            let status = buffer.readString(length: min(buffer.readableBytes, 40)) ?? ""
            failUpgrade(context: context, reason: "upgrade refused: \(status.split(separator: "\r").first ?? "")")
            return
        }
        buffer.moveReaderIndex(forwardBy: headLength)
        do {
            try context.pipeline.syncOperations.addHandlers(
                ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: WebSocketEngineHandler.maxFrameSize)),
                WebSocketFrameEncoder(),
                engine
            )
        } catch {
            failUpgrade(context: context, reason: "pipeline: \(error)")
            return
        }
        upgraded = true
        if buffer.readableBytes > 0 {
            context.fireChannelRead(wrapInboundOut(buffer))
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !upgraded { engine.transportEnded(reason: "connection closed during the WebSocket handshake") }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failUpgrade(context: context, reason: "handshake error: \(error)")
    }

    private func failUpgrade(context: ChannelHandlerContext, reason: String) {
        engine.transportEnded(reason: reason)
        context.close(promise: nil)
    }

    private static func headLength(of buffer: ByteBuffer) -> Int? {
        buffer.readableOffset(of: headEnd).map { $0 + headEnd.count }
    }
}
