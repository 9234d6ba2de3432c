import NIOCore
import ParleyProtocol

extension EngineSession {
    /// Whether a POST's body is being read for this session right now. Call on `eventLoop`.
    var hasPostInFlight: Bool {
        guard case .polling(let polling) = transport else { return false }
        return polling.postInFlight != nil
    }

    /// Whether a GET is held for this session right now. Call on `eventLoop`.
    var hasPendingPoll: Bool {
        guard case .polling(let polling) = transport else { return false }
        return polling.pendingGet != nil
    }

    /// A GET arrived for this session. See `Protocol/engine.md` § 5.2, § 5.4 and § 5.5.
    ///
    /// - Parameter requestKey: the request's cache-busting `t` parameter, when it has one.
    func pollReceived(_ responder: HTTPResponder, requestKey: String? = nil) {
        eventLoop.preconditionInEventLoop()
        switch phase {
        case .closed:
            responder.respond(error: .sessionIDUnknown)
            return
        case .closing(let reason, _):
            respond(responder, with: outbound)
            clearOutbound()
            finish(reason)
            return
        case .open:
            break
        }
        guard case .polling(var polling) = transport else {
            responder.respond(error: .badRequest)
            return
        }
        if let pending = polling.pendingGet {
            polling.pendingGet = nil
            transport = .polling(polling)
            respond(pending, with: CollectionOfOne(.packet(.close)))
            responder.respond(error: .badRequest)
            close(EngineCloseReason(.transportError, detail: "a second GET arrived while one was pending"))
            return
        }
        if let requestKey, let last = polling.lastAnswer, last.key == requestKey {
            // The same request again: a browser resends a GET whose connection closed before
            // the answer reached it (a proxy dropped it). The answer is given again; what was
            // queued since waits for the next GET.
            responder.respond(payload: last.body)
            return
        }
        if upgrade?.isDraining == true {
            respond(responder, with: CollectionOfOne(.packet(.noop)))
            return
        }
        polling.pendingGet = responder
        polling.pendingKey = requestKey
        transport = .polling(polling)
        if !outbound.isEmpty { flush() }
    }

    /// A POST's head arrived; its body is on the way.
    ///
    /// - Returns: `false` when the POST is refused (the responder has been answered).
    func postStarted(_ responder: HTTPResponder) -> Bool {
        eventLoop.preconditionInEventLoop()
        switch phase {
        case .closed:
            responder.respond(error: .sessionIDUnknown)
            return false
        case .closing:
            return true
        case .open:
            break
        }
        guard case .polling(var polling) = transport else {
            responder.respond(error: .badRequest)
            return false
        }
        if polling.postInFlight != nil {
            responder.respond(error: .badRequest)
            close(EngineCloseReason(.transportError, detail: "a second POST arrived while one was in flight"))
            return false
        }
        polling.postInFlight = responder.connectionID
        transport = .polling(polling)
        return true
    }

    /// A POST's whole body arrived. See `Protocol/engine.md` § 5.3.
    func postReceived(_ body: ByteBuffer, responder: HTTPResponder) {
        eventLoop.preconditionInEventLoop()
        switch phase {
        case .closed:
            responder.respond(error: .sessionIDUnknown)
            return
        case .closing:
            responder.respondOK()
            return
        case .open:
            break
        }
        guard case .polling(var polling) = transport else {
            responder.respond(error: .badRequest)
            return
        }
        // A POST refused at its head was answered then; its body means nothing.
        guard polling.postInFlight == responder.connectionID else { return }
        polling.postInFlight = nil
        transport = .polling(polling)
        let packets: [EnginePacket]
        do {
            packets = try PollingPayloadCodec.decode(body)
        } catch {
            responder.respond(error: .badRequest)
            close(EngineCloseReason(.parseError, detail: error.description))
            return
        }
        for packet in packets {
            if packetReceived(packet) != nil {
                responder.respond(error: .badRequest)
                return
            }
        }
        responder.respondOK()
    }

    /// An HTTP connection that carried a request of this session closed.
    func pollConnectionClosed(_ connectionID: ObjectIdentifier) {
        eventLoop.preconditionInEventLoop()
        guard case .polling(var polling) = transport else { return }
        if polling.postInFlight == connectionID {
            polling.postInFlight = nil
            transport = .polling(polling)
        }
        guard polling.pendingGet?.connectionID == connectionID else { return }
        polling.pendingGet = nil
        transport = .polling(polling)
        close(EngineCloseReason(.transportError, detail: "client dropped its pending GET"))
    }
}
