import Logging
import NIOCore
import NIOWebSocket
import ParleyProtocol
import Synchronization

extension EngineSession {
    /// Ends the session for `reason`, telling the client as `Protocol/engine.md` § 9.2 says.
    ///
    /// - Parameter transportClosing: the WebSocket is already being closed by its handler
    ///   (with a close code of its own), so the session must not write to it.
    func close(_ reason: EngineCloseReason, transportClosing: Bool = false) {
        eventLoop.preconditionInEventLoop()
        guard case .open = phase else { return }
        heartbeat.sessionClosed()
        switch reason.code {
        case .forcedClose, .serverShuttingDown:
            outbound.append(.packet(.close))
            switch transport {
            case .websocket(let socket):
                let farewell = Array(outbound)
                // Finish first: closing the socket can report back synchronously.
                finish(reason)
                socket.close(after: farewell, code: reason.code == .serverShuttingDown ? .goingAway : .normalClosure)
            case .polling(var polling):
                if let responder = polling.pendingGet {
                    polling.pendingGet = nil
                    transport = .polling(polling)
                    let farewell = Array(outbound)
                    finish(reason)
                    respond(responder, with: farewell)
                } else if reason.code == .serverShuttingDown {
                    // Shutdown does not wait for a client between two polls: its next request
                    // finds the server gone, which tells it as much.
                    finish(reason)
                } else {
                    // Keep the sid alive so the client's next GET can receive the close packet.
                    phase = .closing(reason, deadline: eventLoop.now + TimeAmount(core.configuration.pingTimeout))
                    rearmTimer()
                }
            }
        default:
            let farewell: EnginePacket = reason.code == .transportClose ? .noop : .close
            switch transport {
            case .websocket(let socket):
                finish(reason)
                if !transportClosing { socket.close(code: reason.webSocketCloseCode) }
            case .polling(var polling):
                let responder = polling.pendingGet
                polling.pendingGet = nil
                transport = .polling(polling)
                finish(reason)
                if let responder { respond(responder, with: CollectionOfOne(.packet(farewell))) }
            }
        }
    }

    /// Marks the session closed, releases everything it holds and reports the reason once.
    func finish(_ reason: EngineCloseReason) {
        if case .closed = phase { return }
        phase = .closed
        heartbeat.sessionClosed()
        timer?.task.cancel()
        timer = nil
        core.sessionFinished(self)
        if case .polling(var polling) = transport, let responder = polling.pendingGet {
            polling.pendingGet = nil
            transport = .polling(polling)
            respond(responder, with: CollectionOfOne(.packet(.close)))
        }
        probe?.close(code: .normalClosure)
        probe = nil
        upgrade = nil
        outbound = []
        outboundBytes = 0
        logger.debug("session closed", metadata: ["parley.reason": "\(reason)"])
        core.handler.session(self, closedWith: reason)
        let waiting = closing.withLock { closing in
            closing.reason = reason
            return closing.promise
        }
        waiting?.succeed(reason)
    }

    // MARK: Timer

    func apply(_ action: HeartbeatStateMachine.Action) {
        switch action {
        case .wake:
            rearmTimer()
        case .sendPing:
            _ = enqueue(.packet(.ping("")))
            rearmTimer()
        case .close:
            close(EngineCloseReason(.pingTimeout))
        case .doNothing:
            break
        }
    }

    /// Arms the session's single timer for the earliest deadline of its state machines.
    func rearmTimer() {
        if case .closed = phase { return }
        var next = heartbeat.deadline
        if let deadline = upgrade?.deadline { next = min(next ?? deadline, deadline) }
        if case .closing(_, let deadline) = phase { next = min(next ?? deadline, deadline) }
        guard let next else {
            timer?.task.cancel()
            timer = nil
            return
        }
        if let timer, timer.deadline == next { return }
        timer?.task.cancel()
        let task = eventLoop.scheduleTask(deadline: next) { self.timerFired() }
        timer = (task, next)
    }

    private func timerFired() {
        timer = nil
        let now = eventLoop.now
        if case .closing(let reason, let deadline) = phase, now >= deadline {
            finish(reason)
            return
        }
        if upgrade != nil {
            let action = upgrade!.timerFired(now: now)
            if let probe { apply(action, probe: probe) }
        }
        apply(heartbeat.timerFired(now: now))
        rearmTimer()
    }
}

extension EngineCloseReason {
    /// The WebSocket close code for a session ended by the server for this reason.
    var webSocketCloseCode: WebSocketErrorCode {
        switch code {
        case .transportError, .parseError: .protocolError
        case .payloadTooLarge: .messageTooLarge
        case .slowConsumer: WebSocketErrorCode(codeNumber: 1013)
        case .serverShuttingDown: .goingAway
        default: .normalClosure
        }
    }
}
