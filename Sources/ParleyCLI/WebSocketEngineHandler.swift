import NIOCore
import NIOPosix
import NIOWebSocket

/// The WebSocket transport of a bench client: one engine text packet per masked text frame.
///
/// Engine pings (`2`) are answered with `3` here; message packets (`4...`) go to the socket
/// with the digit stripped. Nothing else of a frame is parsed.
final class WebSocketEngineHandler: ChannelInboundHandler, EngineTransport {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// Server frames are small; this bounds what one frame may make the decoder buffer.
    static let maxFrameSize = 1 << 24

    private var delegate: (any EngineTransportDelegate)?
    private var context: ChannelHandlerContext?
    /// Set before the upgrade, so `close()` can end a connection that is still handshaking.
    private var channel: (any Channel)?
    private var random: XorshiftGenerator

    init(delegate: any EngineTransportDelegate, seed: UInt64) {
        self.delegate = delegate
        self.random = XorshiftGenerator(seed: seed)
    }

    /// Connects `socket` over a new WebSocket; runs on the socket's loop.
    static func connect(_ socket: BenchSocket, target: BenchTarget, index: Int) {
        let request = """
            GET \(target.engineTarget) HTTP/1.1\r
            Host: \(target.authority)\r
            Upgrade: websocket\r
            Connection: Upgrade\r
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r
            Sec-WebSocket-Version: 13\r
            \r\n
            """
        let bound = NIOLoopBound(socket, eventLoop: socket.loop)
        let seed = BenchClock.now() &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15
        target.bootstrap(on: socket.loop, index: index)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let engine = WebSocketEngineHandler(delegate: bound.value, seed: seed)
                    engine.channel = channel
                    bound.value.transport = engine
                    try channel.pipeline.syncOperations.addHandler(WebSocketHandshakeHandler(request: request, engine: engine))
                }
            }
            .connect(to: target.remote)
            .assumeIsolated()
            .whenFailure { error in
                bound.value.engineClosed(reason: "connect failed: \(error)")
            }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            var packet = frame.unmaskedData
            switch packet.readInteger(as: UInt8.self) {
            case UInt8(ascii: "4"): delegate?.engineMessageReceived(packet)
            case UInt8(ascii: "2"): answerPing(payload: packet)
            case UInt8(ascii: "0"): delegate?.engineOpened()
            case UInt8(ascii: "1"): context.close(promise: nil)
            default: break  // noop, or nothing a bench client needs
            }
        case .ping:
            write(WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(using: &random), data: frame.unmaskedData))
            context.flush()
        case .connectionClose:
            context.close(promise: nil)
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        transportEnded(reason: "connection closed")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        transportEnded(reason: "transport error: \(error)")
        context.close(promise: nil)
    }

    /// Called by the handshake handler when the upgrade did not happen.
    func transportEnded(reason: String) {
        channel = nil
        let delegate = self.delegate
        self.delegate = nil
        delegate?.engineClosed(reason: reason)
    }

    // MARK: EngineTransport

    func send(_ packet: ByteBuffer) {
        write(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(using: &random), data: packet))
    }

    func flush() {
        context?.flush()
    }

    func close() {
        if let channel {
            channel.close(promise: nil)  // the handlers report the end
        } else {
            transportEnded(reason: "closed")
        }
    }

    private func write(_ frame: WebSocketFrame) {
        context?.write(wrapOutboundOut(frame), promise: nil)
    }

    private func answerPing(payload: ByteBuffer) {
        var pong = ByteBufferAllocator().buffer(capacity: 1 + payload.readableBytes)
        pong.writeInteger(UInt8(ascii: "3"))
        pong.writeImmutableBuffer(payload)
        send(pong)
        flush()
    }
}
