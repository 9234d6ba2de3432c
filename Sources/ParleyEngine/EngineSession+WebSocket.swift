import Logging
import NIOCore
import NIOWebSocket
import ParleyProtocol

extension EngineSession {
    /// A WebSocket naming this session's sid finished its handshake: an upgrade probe.
    func probeOpened(_ socket: WebSocketTransport) {
        eventLoop.preconditionInEventLoop()
        guard case .open = phase, upgrade != nil else {
            socket.close(code: .policyViolation)
            return
        }
        apply(upgrade!.probeOpened(now: eventLoop.now), probe: socket)
    }

    /// A packet arrived on one of this session's WebSockets.
    func webSocketReceived(_ packet: EnginePacket, from socketID: ObjectIdentifier) {
        eventLoop.preconditionInEventLoop()
        if case .websocket(let socket) = transport, socket.id == socketID {
            packetReceived(packet)
        } else if let probe, probe.id == socketID, upgrade != nil {
            let action: UpgradeStateMachine.Action
            switch packet {
            case .ping("probe"): action = upgrade!.probePingReceived()
            case .upgrade: action = upgrade!.upgradeReceived()
            default: action = upgrade!.probeFailed()
            }
            apply(action, probe: probe)
        }
    }

    /// One of this session's WebSockets broke a rule or failed.
    func webSocketFailed(_ socketID: ObjectIdentifier, reason: EngineCloseReason) {
        eventLoop.preconditionInEventLoop()
        if case .websocket(let socket) = transport, socket.id == socketID {
            close(reason, transportClosing: true)
        } else if let probe, probe.id == socketID, upgrade != nil {
            self.probe = nil
            _ = upgrade!.probeFailed()
            rearmTimer()
        }
    }

    /// One of this session's WebSockets closed.
    func webSocketClosed(_ socketID: ObjectIdentifier) {
        webSocketFailed(socketID, reason: EngineCloseReason(.transportClose, detail: "connection closed"))
    }

    /// One of this session's WebSockets can take more bytes again.
    func webSocketWritable(_ socketID: ObjectIdentifier) {
        eventLoop.preconditionInEventLoop()
        if case .websocket(let socket) = transport, socket.id == socketID, !outbound.isEmpty {
            scheduleFlush()
        }
    }

    func apply(_ action: UpgradeStateMachine.Action, probe socket: WebSocketTransport) {
        switch action {
        case .acceptProbe:
            probe = socket
            rearmTimer()
        case .rejectProbe:
            socket.close(code: .policyViolation)
        case .answerProbe:
            socket.write(CollectionOfOne(.packet(.pong("probe"))))
            releasePendingPoll()
        case .switchTransport:
            releasePendingPoll()
            probe = nil
            transport = .websocket(socket)
            logger.debug("session upgraded to websocket")
            rearmTimer()
            flush()
        case .abandonProbe:
            probe = nil
            socket.close(code: .normalClosure)
            rearmTimer()
        case .doNothing:
            break
        }
    }

    /// Answers a pending GET with `noop` so the client can finish its upgrade.
    private func releasePendingPoll() {
        guard case .polling(var polling) = transport, let responder = polling.pendingGet else { return }
        polling.pendingGet = nil
        transport = .polling(polling)
        respond(responder, with: CollectionOfOne(.packet(.noop)))
    }
}
