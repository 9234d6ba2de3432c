import Logging
import NIOCore
import NIOHTTP1
import ParleyProtocol

/// Serves the polling transport and the engine's HTTP errors on one HTTP connection.
///
/// Event-loop confined; not `Sendable`. Responses may be written by a session on another
/// event loop through ``HTTPResponder``; they pass this handler on their way out, which is how
/// it knows when a request is complete.
final class EngineHTTPHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        /// Waiting for the request's end before acting.
        case awaitingEnd(EngineRequest, HTTPResponder, EngineRoute)
        /// Reading a POST body for a session.
        case collecting(EngineSession, HTTPResponder, ByteBuffer)
        /// The request was answered already; its remaining parts are ignored.
        case discarding
    }

    private let core: EngineServerCore
    private var state = State.idle
    /// A whole request was read and its response's end has not been written yet (a held GET,
    /// say). Only then is a silent connection not idle: a request whose head or body stops
    /// half-way is.
    private var awaitingResponse = false
    /// The current request's response was written (possibly before its body was read).
    private var responded = true
    /// The session whose GET or POST this connection carries now, told if it closes. One at a
    /// time: HTTP/1.1 requests on a connection are handled in turn. Only that one is kept, so
    /// a keep-alive connection that opened many sessions keeps none of them alive.
    private var sessionInFlight: EngineSession?

    /// The connection's handlers, kept alive here (the upgrade gate refers to them weakly);
    /// `nil` on test pipelines without one.
    private let pipeline: EngineConnectionPipeline?

    init(core: EngineServerCore, pipeline: EngineConnectionPipeline? = nil) {
        self.core = core
        self.pipeline = pipeline
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            responded = false
            sessionInFlight = nil
            headReceived(head, context: context)
        case .body(let chunk):
            guard case .collecting(let session, let responder, var body) = state else { return }
            state = .discarding
            guard body.readableBytes + chunk.readableBytes <= core.configuration.maxPayloadBytes else {
                tooLarge(responder, session: session)
                return
            }
            body.writeImmutableBuffer(chunk)
            state = .collecting(session, responder, body)
        case .end:
            awaitingResponse = !responded
            endReceived(context: context)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            responded = true
            awaitingResponse = false
            sessionInFlight = nil
        }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            // A held GET is never idle; a request that stopped arriving is.
            if !awaitingResponse { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Malformed HTTP (already answered 400 by NIO's protocol error handler) or an I/O
        // error: this connection is done; sessions survive it as § 5.4 says.
        core.logger.debug("HTTP connection error", metadata: ["parley.error": "\(error)"])
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let connectionID = ObjectIdentifier(context.channel)
        if let session = sessionInFlight {
            sessionInFlight = nil
            session.onLoop { $0.pollConnectionClosed(connectionID) }
        }
        context.fireChannelInactive()
    }

    // MARK: Requests

    private func headReceived(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard head.headers.byteCount <= core.configuration.maxRequestHeaderBytes else {
            state = .discarding
            core.logger.debug("request headers above maxRequestHeaderBytes refused")
            let responder = HTTPResponder(channel: context.channel, version: head.version, keepAlive: false, extraHeaders: [:])
            responder.respond(status: .requestHeaderFieldsTooLarge, contentType: nil, body: ByteBuffer(), closeConnection: true)
            return
        }
        let request = EngineRequest(method: head.method, uri: head.uri, headers: head.headers, remoteAddress: context.channel.remoteAddress)
        let route = EngineRoute(request, configuration: core.configuration, cors: core.cors, isUpgrade: head.isWebSocketUpgrade)
        let responder = HTTPResponder(
            channel: context.channel,
            version: head.version,
            keepAlive: head.isKeepAlive,
            extraHeaders: core.cors.responseHeaders(for: head.headers)
        )
        guard case .post(let sid) = route else {
            state = .awaitingEnd(request, responder, route)
            return
        }
        state = .discarding
        guard let session = core.session(id: sid) else {
            responder.respond(error: .sessionIDUnknown)
            return
        }
        if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > core.configuration.maxPayloadBytes {
            tooLarge(responder, session: nil)
            return
        }
        sessionInFlight = session
        state = .collecting(session, responder, context.channel.allocator.buffer(capacity: 0))
        session.onLoop { session in
            _ = session.postStarted(responder)
        }
    }

    private func endReceived(context: ChannelHandlerContext) {
        let current = state
        state = .idle
        switch current {
        case .idle, .discarding:
            return
        case .collecting(let session, let responder, let body):
            session.onLoop { $0.postReceived(body, responder: responder) }
        case .awaitingEnd(let request, let responder, let route):
            dispatch(route, request: request, responder: responder, context: context)
        }
    }

    private func dispatch(_ route: EngineRoute, request: EngineRequest, responder: HTTPResponder, context: ChannelHandlerContext) {
        switch route {
        case .notFound:
            responder.respond(status: .notFound, contentType: nil, body: ByteBuffer())
        case .staticFile(let file):
            file.respond(to: request, with: responder)
        case .preflight(let headers):
            let preflight = HTTPResponder(channel: responder.channel, version: responder.version, keepAlive: responder.keepAlive, extraHeaders: headers)
            preflight.respond(status: .noContent, contentType: nil, body: ByteBuffer())
        case .reject(let error):
            respondRejected(error, request: request, responder: responder)
        case .websocket(let sid):
            // Upgrade headers the upgrader did not take (e.g. a bad Sec-WebSocket-Key). The
            // decoder may have stopped parsing after an Upgrade request: close the connection.
            let known = sid.map { core.session(id: $0) != nil } ?? true
            let error: EngineRequestError = known ? .badRequest : .sessionIDUnknown
            responder.respond(status: error.status, contentType: "application/json", body: ByteBuffer(string: error.body), closeConnection: true)
        case .handshake:
            if let refusal = core.admitSession(for: request) {
                responder.respond(error: refusal)
                return
            }
            let session = EngineSession(core: core, eventLoop: context.eventLoop, request: request, transport: .polling(.init()))
            core.register(session)
            session.openPolling(handshakeResponder: responder)
        case .poll(let sid):
            guard let session = core.session(id: sid) else {
                responder.respond(error: .sessionIDUnknown)
                return
            }
            sessionInFlight = session
            let requestKey = request.query["t"]
            session.onLoop { $0.pollReceived(responder, requestKey: requestKey) }
        case .post:
            preconditionFailure("POST requests are collected, not dispatched at their end")
        }
    }

    private func respondRejected(_ error: EngineRequestError, request: EngineRequest, responder: HTTPResponder) {
        // The reference checks the sid before transport rules, so an unknown sid wins.
        if error == .badRequest, let sid = request.queryValue("sid"), core.session(id: sid) == nil {
            responder.respond(error: .sessionIDUnknown)
        } else {
            responder.respond(error: error)
        }
    }

    private func tooLarge(_ responder: HTTPResponder, session: EngineSession?) {
        core.logger.debug("POST body above maxPayload refused", metadata: ["parley.sid": "\(session?.id ?? "-")"])
        // Closing the connection ends the POST; channelInactive clears it from the session.
        responder.respond(status: .payloadTooLarge, contentType: nil, body: ByteBuffer(), closeConnection: true)
    }
}

extension HTTPHeaders {
    /// The bytes of every name and value, as the limit on request headers counts them.
    var byteCount: Int {
        reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count }
    }
}

extension HTTPRequestHead {
    /// Whether the request asks for a WebSocket upgrade.
    var isWebSocketUpgrade: Bool {
        headers.first(name: "upgrade")?.lowercased() == "websocket"
            && headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" }
    }
}
