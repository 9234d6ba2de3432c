import NIOCore

/// The client side of the upgrade from polling to WebSocket (Protocol/engine.md §7): probe with
/// `2probe`, on `3probe` let the GET and POST in flight be answered (the server answers the GET
/// `6`), then send `5` and move the queued packets and the delegate to the WebSocket.
extension PollingEngineTransport {
    /// Opens the probe WebSocket for session `sid`.
    func startUpgrade(sid: String) {
        upgrade = .probing(nil)
        WebSocketEngineHandler.probe(for: self, sid: sid, target: target, index: index, on: loop)
    }

    /// The probe WebSocket's handler exists (its connection is being set up).
    func probeStarted(_ webSocket: WebSocketEngineHandler) {
        guard case .probing(nil) = upgrade, !isEnded else {
            webSocket.close()
            return
        }
        upgrade = .probing(webSocket)
    }

    /// `3probe` arrived on the probe WebSocket.
    func probeAnswered() {
        guard case .probing(let webSocket?) = upgrade else { return }
        upgrade = .pausing(webSocket)
        completeUpgradeIfIdle()
    }

    /// The probe WebSocket failed or closed before the upgrade completed: stay on polling.
    func probeFailed(reason: String) {
        switch upgrade {
        case .probing, .pausing:
            upgrade = .polling
            guard !isEnded else { return }
            delegate?.engineUpgradeFailed(reason: reason)
            sendGet()
            flush()
        case .polling, .upgraded:
            break
        }
    }

    /// Switches to the WebSocket once no GET or POST is in flight.
    func completeUpgradeIfIdle() {
        guard case .pausing(let webSocket) = upgrade, !isGetInFlight, !isPostInFlight, !isEnded else { return }
        webSocket.answersPings = answersPings
        upgrade = .upgraded(webSocket)
        let delegate = self.delegate
        self.delegate = nil  // the WebSocket reports to it from now on
        webSocket.completeUpgrade(delegate: delegate)
        for packet in takeOutbox() { webSocket.send(packet) }
        webSocket.flush()
        closeConnections()
        delegate?.engineUpgraded()
    }
}
