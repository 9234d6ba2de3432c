import NIOCore
import NIOHTTP1

/// One keep-alive HTTP/1.1 connection of a polling client: sends a request, collects the
/// response body, hands it to the transport.
final class PollingHTTPConnection: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    enum Role: Hashable {
        case get
        case post
    }

    let role: Role
    private var transport: PollingEngineTransport?
    private var context: ChannelHandlerContext?
    private var status = HTTPResponseStatus.ok
    private var body: ByteBuffer?

    init(role: Role, transport: PollingEngineTransport) {
        self.role = role
        self.transport = transport
    }

    func send(_ head: HTTPRequestHead, body: ByteBuffer?) {
        guard let context else { return }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context  // added by the channel initializer, so before channelActive
    }

    func channelActive(context: ChannelHandlerContext) {
        transport?.connectionBecameActive(role)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = head.status
            body = nil
        case .body(var chunk):
            if body == nil {
                body = chunk
            } else {
                body!.writeBuffer(&chunk)
            }
        case .end:
            let received = body ?? ByteBuffer()
            body = nil
            transport?.responseReceived(role, status: status, body: received)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let transport = self.transport
        self.transport = nil
        self.context = nil
        transport?.connectionClosed(role)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
