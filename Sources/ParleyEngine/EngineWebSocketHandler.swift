import Logging
import NIOCore
import NIOWebSocket
import ParleyProtocol

/// Carries one WebSocket's frames to and from its session.
///
/// Event-loop confined; not `Sendable`. A WebSocket without `sid` opens a new session on this
/// connection's event loop; with a `sid` it is an upgrade probe for an existing session.
final class EngineWebSocketHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame

    private let core: EngineServerCore
    private let request: EngineRequest
    private let sid: String?
    private var session: EngineSession?
    private var socketID: ObjectIdentifier?
    private var failed = false
    private let writer: WebSocketFrameWriter

    init(core: EngineServerCore, request: EngineRequest, sid: String?, writer: WebSocketFrameWriter) {
        self.core = core
        self.request = request
        self.sid = sid
        self.writer = writer
    }

    private func transport(_ context: ChannelHandlerContext) -> WebSocketTransport {
        WebSocketTransport(channel: context.channel, writer: writer)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let socket = transport(context)
        socketID = socket.id
        if let sid {
            guard let session = core.session(id: sid) else {
                socket.close(code: .policyViolation)
                return
            }
            self.session = session
            session.onLoop { $0.probeOpened(socket) }
        } else {
            let session = EngineSession(core: core, eventLoop: context.eventLoop, request: request, transport: .websocket(socket))
            self.session = session
            core.register(session)
            session.openWebSocket()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard !failed else { return }
        guard frame.maskKey != nil else {
            fail(context: context, code: .protocolError, reason: EngineCloseReason(.transportError, detail: "unmasked client frame"))
            return
        }
        guard !frame.rsv1, !frame.rsv2, !frame.rsv3 else {
            // No extension is negotiated, so no reserved bit may be set.
            fail(context: context, code: .protocolError, reason: EngineCloseReason(.transportError, detail: "reserved bits set"))
            return
        }
        switch frame.opcode {
        case .text:
            let text = frame.unmaskedData
            do {
                deliver(try EnginePacketCodec.decode(text: text))
            } catch {
                let code: WebSocketErrorCode = error.code == .invalidUTF8 ? .dataInconsistentWithMessage : .protocolError
                let reason = EngineCloseReason(error.code == .invalidUTF8 ? .transportError : .parseError, detail: error.description)
                fail(context: context, code: code, reason: reason)
            }
        case .binary:
            deliver(EnginePacketCodec.decode(binary: frame.unmaskedData))
        case .ping:
            transport(context).write(frame: .pong, payload: frame.unmaskedData)
        case .connectionClose:
            var data = frame.unmaskedData
            transport(context).close(code: data.readWebSocketErrorCode() ?? .normalClosure)
        case .pong, .continuation:
            break
        default:
            fail(context: context, code: .protocolError, reason: EngineCloseReason(.transportError, detail: "unknown opcode"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let session, let socketID {
            session.onLoop { $0.webSocketClosed(socketID) }
        }
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let session, let socketID {
            session.onLoop { $0.webSocketWritable(socketID) }
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let tooLarge: Bool
        switch error {
        case NIOWebSocketError.invalidFrameLength, NIOWebSocketFrameAggregator.Error.accumulatedFrameSizeIsTooLarge:
            tooLarge = true
        default:
            tooLarge = false
        }
        let reason = tooLarge
            ? EngineCloseReason(.payloadTooLarge, detail: "message above \(core.configuration.maxPayloadBytes) bytes")
            : EngineCloseReason(.transportError, detail: "\(error)")
        fail(context: context, code: tooLarge ? .messageTooLarge : .protocolError, reason: reason)
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
