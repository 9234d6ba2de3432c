import NIOCore
import NIOPosix
import NIOWebSocket

/// The WebSocket transport of a bench client: one engine text packet per masked text frame.
///
/// Engine pings (`2`) are answered with `3` here; message packets (`4...`) go to the socket
/// with the digit stripped. Nothing else of a frame is parsed. As the probe of an upgrade it
/// sends `2probe`, reports `3probe` to the polling transport that owns it, and becomes that
/// session's transport on `completeUpgrade(delegate:)`.
final class WebSocketEngineHandler: ChannelInboundHandler, EngineTransport {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// Server frames are small; this bounds what one frame may make the decoder buffer.
    static let maxFrameSize = 1 << 24

    private var delegate: (any EngineTransportDelegate)?
    /// The polling transport this WebSocket probes for, until the upgrade completes or fails.
    private var probeOwner: PollingEngineTransport?
    private var context: ChannelHandlerContext?
    /// Set before the upgrade, so `close()` can end a connection that is still handshaking.
    private var channel: (any Channel)?
    private var random: XorshiftGenerator
    var answersPings = true

    private init(delegate: (any EngineTransportDelegate)?, probeOwner: PollingEngineTransport?, channel: any Channel, seed: UInt64) {
        self.delegate = delegate
        self.probeOwner = probeOwner
        self.channel = channel
        self.random = XorshiftGenerator(seed: seed)
    }

    /// Connects `socket` over a new WebSocket; runs on the socket's loop.
    static func connect(_ socket: BenchSocket, target: BenchTarget, index: Int) {
        let bound = NIOLoopBound(socket, eventLoop: socket.loop)
        open(request: target.webSocketRequest(), target: target, index: index, on: socket.loop) { channel, seed in
            let engine = WebSocketEngineHandler(delegate: bound.value, probeOwner: nil, channel: channel, seed: seed)
            bound.value.transport = engine
            return engine
        } failed: { reason in
            bound.value.engineClosed(reason: reason)
        }
    }

    /// Opens the probe WebSocket of `owner`'s session `sid` (Protocol/engine.md §7); runs on `loop`.
    static func probe(for owner: PollingEngineTransport, sid: String, target: BenchTarget, index: Int, on loop: any EventLoop) {
        let bound = NIOLoopBound(owner, eventLoop: loop)
        open(request: target.webSocketRequest(sid: sid), target: target, index: index, on: loop) { channel, seed in
            let engine = WebSocketEngineHandler(delegate: nil, probeOwner: bound.value, channel: channel, seed: seed)
            bound.value.probeStarted(engine)
            return engine
        } failed: { reason in
            bound.value.probeFailed(reason: reason)
        }
    }

    private static func open(
        request: String,
        target: BenchTarget,
        index: Int,
        on loop: any EventLoop,
        make: @escaping (_ channel: any Channel, _ seed: UInt64) -> WebSocketEngineHandler,
        failed: @escaping (_ reason: String) -> Void
    ) {
        let seed = BenchClock.now() &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15
        let make = NIOLoopBound(make, eventLoop: loop)
        let failed = NIOLoopBound(failed, eventLoop: loop)
        target.bootstrap(on: loop, index: index)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let engine = make.value(channel, seed)
                    try channel.pipeline.syncOperations.addHandler(WebSocketHandshakeHandler(request: request, engine: engine))
                }
            }
            .connect(to: target.remote)
            .assumeIsolated()
            .whenFailure { error in
                failed.value("connect failed: \(error)")
            }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if probeOwner != nil {
            send(ByteBuffer(string: "2probe"))
            flush()
        }
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
            case UInt8(ascii: "2"): pingReceived(payload: packet)
            case UInt8(ascii: "3"): if String(buffer: packet) == "probe" { probeOwner?.probeAnswered() }
            case UInt8(ascii: "0"): delegate?.engineOpened(handshake: packet)
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
        if let owner = probeOwner {
            probeOwner = nil
            owner.probeFailed(reason: reason)
        }
        let delegate = self.delegate
        self.delegate = nil
        delegate?.engineClosed(reason: reason)
    }

    /// Ends the probe: sends `5` and reports to `delegate` from now on (the caller flushes).
    func completeUpgrade(delegate: (any EngineTransportDelegate)?) {
        probeOwner = nil
        self.delegate = delegate
        send(ByteBuffer(string: "5"))
    }

    // MARK: EngineTransport

    func send(_ packet: ByteBuffer) {
        write(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(using: &random), data: packet))
    }

    func flush() {
        context?.flush()
    }

    func close(_ manner: EngineCloseManner) {
        guard let channel else {
            transportEnded(reason: "closed")
            return
        }
        switch manner {
        case .goodbye where context != nil:
            // Close frame 1000; the server answers with its own and ends the connection.
            var code = ByteBuffer()
            code.writeInteger(UInt16(1000))
            write(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(using: &random), data: code))
            flush()
        case .reset:
            channel.resetAndClose()
        case .goodbye, .abandon:
            channel.close(promise: nil)  // the handlers report the end
        }
    }

    func stopReading() {
        channel?.setAutoRead(false)
    }

    func resumeReading() {
        channel?.setAutoRead(true)
    }

    private func write(_ frame: WebSocketFrame) {
        context?.write(wrapOutboundOut(frame), promise: nil)
    }

    private func pingReceived(payload: ByteBuffer) {
        delegate?.enginePingReceived(answered: answersPings)
        guard answersPings else { return }
        var pong = ByteBufferAllocator().buffer(capacity: 1 + payload.readableBytes)
        pong.writeInteger(UInt8(ascii: "3"))
        pong.writeImmutableBuffer(payload)
        send(pong)
        flush()
    }
}
