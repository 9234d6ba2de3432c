import Logging
import NIOCore
import NIOWebSocket
import ParleyProtocol

/// Reads one WebSocket's frames and carries them to its session.
///
/// Event-loop confined; not `Sendable`. A WebSocket without `sid` opens a new session on this
/// connection's event loop; with a `sid` it is an upgrade probe for an existing session.
/// It parses the frames itself (``WebSocketFrameParser``) straight from the connection's
/// bytes: one handler per connection instead of a decoder, a reassembler and this one.
final class EngineWebSocketHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let core: EngineServerCore
    /// The upgrade request, until the session takes it (the session keeps a compact copy).
    private var request: EngineRequest?
    private let sid: String?
    private var session: EngineSession?
    private var socketID: ObjectIdentifier?
    private var failed = false
    private var parser: WebSocketFrameParser
    /// Serves a ``RawWebSocketEcho``: messages are echoed as frames, no session.
    private let rawEcho: Bool
    /// Set while the handler is in the pipeline: frames are written through it.
    private var context: ChannelHandlerContext?

    init(core: EngineServerCore, request: EngineRequest, sid: String?, rawEcho: Bool = false) {
        self.core = core
        self.rawEcho = rawEcho
        self.request = request
        self.sid = sid
        self.parser = WebSocketFrameParser(maxMessageSize: core.configuration.maxPayloadBytes)
    }

    private func transport(_ context: ChannelHandlerContext) -> WebSocketTransport {
        WebSocketTransport(channel: context.channel, handler: self)
    }

    // MARK: Writing (on the channel's loop, for ``WebSocketTransport``)

    /// Writes frames that are already encoded (no other handler sits between this one and the
    /// socket once the connection is upgraded).
    func write(_ frames: ByteBuffer, promise: EventLoopPromise<Void>? = nil) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        context.write(NIOAny(frames), promise: promise)
    }

    func flush() {
        context?.flush()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        session = nil
    }

    // MARK: Reading

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let socket = transport(context)
        socketID = socket.id
        let request = self.request
        self.request = nil
        guard !rawEcho else { return }
        if let sid {
            guard let session = core.session(id: sid) else {
                socket.close(code: .policyViolation)
                return
            }
            self.session = session
            session.onLoop { $0.probeOpened(socket) }
        } else {
            guard let request else { return }
            // Checked before the upgrade was answered; taken now, when the session exists.
            guard core.admitSession(for: request) == nil else {
                socket.close(code: WebSocketErrorCode(codeNumber: 1013))
                return
            }
            let session = EngineSession(core: core, eventLoop: context.eventLoop, request: request, transport: .websocket(socket))
            self.session = session
            core.register(session)
            session.openWebSocket()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        do {
            try parser.parse(unwrapInboundIn(data)) { frame in
                guard !failed else { return }
                received(frame, context: context)
            }
        } catch WebSocketFrameParser.Failure.tooLarge {
            let reason = EngineCloseReason(.payloadTooLarge, detail: "message above \(core.configuration.maxPayloadBytes) bytes")
            fail(context: context, code: .messageTooLarge, reason: reason)
        } catch {
            let detail = (error as? WebSocketFrameParser.Failure).map { "\($0)" } ?? "\(error)"
            fail(context: context, code: .protocolError, reason: EngineCloseReason(.transportError, detail: detail))
        }
    }

    private func received(_ frame: WebSocketFrameParser.Frame, context: ChannelHandlerContext) {
        switch frame {
        case .text(let text):
            // Raw echo: invalid UTF-8 falls through to the decoder, which fails the connection.
            if rawEcho, UTF8Validation.isValid(text.readableBytesView) { return transport(context).write(frame: .text, payload: text) }
            do {
                deliver(try EnginePacketCodec.decode(text: text))
            } catch {
                let code: WebSocketErrorCode = error.code == .invalidUTF8 ? .dataInconsistentWithMessage : .protocolError
                let reason = EngineCloseReason(error.code == .invalidUTF8 ? .transportError : .parseError, detail: error.description)
                fail(context: context, code: code, reason: reason)
            }
        case .binary(let bytes):
            if rawEcho { return transport(context).write(frame: .binary, payload: bytes) }
            deliver(EnginePacketCodec.decode(binary: bytes))
        case .ping(let payload):
            // A peer that pings without reading would grow the outbound buffer without bound:
            // answer only while the connection takes bytes (RFC 6455 § 5.5.3 allows answering
            // only the latest ping).
            guard context.channel.isWritable else { return }
            transport(context).write(frame: .pong, payload: payload)
        case .close(var payload):
            failed = true
            transport(context).close(code: payload.readWebSocketErrorCode() ?? .normalClosure)
        case .pong:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let session, let socketID {
            session.onLoop { $0.webSocketClosed(socketID) }
        }
        // The session holds this handler through its transport: drop the way back, so that a
        // closed session is freed whatever closed it.
        session = nil
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let session, let socketID {
            session.onLoop { $0.webSocketWritable(socketID) }
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context: context, code: .protocolError, reason: EngineCloseReason(.transportError, detail: "\(error)"))
    }

    private func deliver(_ packet: EnginePacket) {
        guard let session, let socketID else { return }
        if session.eventLoop.inEventLoop {
            session.webSocketReceived(packet, from: socketID)
        } else {
            session.eventLoop.execute { session.webSocketReceived(packet, from: socketID) }
        }
    }

    /// Tells the session why this WebSocket is going away, then closes it with `code`.
    private func fail(context: ChannelHandlerContext, code: WebSocketErrorCode, reason: EngineCloseReason) {
        guard !failed else { return }
        failed = true
        core.logger.debug("websocket failed", metadata: ["parley.sid": "\(session?.id ?? "-")", "parley.reason": "\(reason)"])
        if let session, let socketID {
            session.onLoop { $0.webSocketFailed(socketID, reason: reason) }
        }
        transport(context).close(code: code)
    }
}
