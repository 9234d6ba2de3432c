import Logging
import NIOCore
import NIOWebSocket
import ParleyProtocol

extension EngineClientConnection {
    /// Opens with a polling handshake (unless `resume`), then polls until the connection
    /// ends or the session moves to a WebSocket.
    func pollingSession() async {
        do {
            let first = try await polling.get(sid: nil, timeout: configuration.connectTimeout)
            guard case .open? = first.first else { throw TransportError.handshakeMissing }
            active = .polling
            for packet in first { packetReceived(packet) }
            while !closed {
                await waitUntil { !$0.pollingPaused || !$0.isPolling }
                guard isPolling, !closed, let sid else { return }
                pollInFlight = true
                let timeout = (handshake.map { $0.pingInterval + $0.pingTimeout } ?? .seconds(45)) + .seconds(5)
                let packets = try await polling.get(sid: sid, timeout: timeout)
                pollInFlight = false
                changed()
                for packet in packets { packetReceived(packet) }
            }
        } catch {
            pollInFlight = false
            if isPolling || handshake == nil {
                finish(ClientCloseReason(.transportError, detail: "polling failed: \(error)"))
            }
        }
    }

    var isPolling: Bool {
        if case .polling = active { return true }
        return false
    }

    /// Opens a direct WebSocket session and reads it until the connection ends.
    func webSocketSession(sid: String?) async {
        do {
            let channel = try await connector.connect(sid: sid)
            try await channel.executeThenClose { inbound, outbound in
                await self.attach(outbound)
                for try await frame in inbound {
                    guard await self.frameReceived(frame) else { break }
                }
            }
            finish(ClientCloseReason(.transportClose, detail: "the WebSocket closed"))
        } catch {
            finish(ClientCloseReason(.transportError, detail: "WebSocket failed: \(error)"))
        }
    }

    func attach(_ writer: NIOAsyncChannelOutboundWriter<WebSocketFrame>) {
        active = .websocket(writer)
        wakeWriter()
    }

    /// Makes the writer look at the queue again (after a transport change).
    func wakeWriter() {
        writerSignal.yield()
    }

    /// Handles one frame of the session's WebSocket; `false` when reading should stop.
    func frameReceived(_ frame: WebSocketFrame) -> Bool {
        guard !closed else { return false }
        switch frame.opcode {
        case .text:
            do {
                packetReceived(try EnginePacketCodec.decode(text: frame.unmaskedData))
            } catch {
                finish(ClientCloseReason(.parseError, detail: error.description))
            }
        case .binary:
            packetReceived(EnginePacketCodec.decode(binary: frame.unmaskedData))
        case .connectionClose:
            finish(ClientCloseReason(.transportClose, detail: "the server closed the WebSocket"))
        default:
            break
        }
        return !closed
    }

    /// Probes a WebSocket for the polling session and moves to it when the probe answers in
    /// time; otherwise the session stays on polling (`Protocol/engine.md` § Upgrade).
    func upgrade() async {
        await waitUntil { $0.handshake != nil }
        guard !closed, let handshake, let sid, handshake.upgrades.contains(.websocket) else { return }
        let timeout = configuration.upgradeTimeout
        do {
            let channel = try await withDeadline(timeout) { try await self.connector.connect(sid: sid) }
            // A probe that does not answer in time is closed, which ends the read below.
            let raw = channel.channel
            let deadline = raw.eventLoop.scheduleTask(in: TimeAmount(timeout)) { raw.close(promise: nil) }
            try await channel.executeThenClose { inbound, outbound in
                var frames = inbound.makeAsyncIterator()
                try await outbound.write(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(string: "2probe")))
                let answer = try await frames.next()
                deadline.cancel()
                guard let answer else { throw DeadlineExceeded(timeout: timeout) }
                guard answer.opcode == .text, String(buffer: answer.unmaskedData) == "3probe" else {
                    throw TransportError.probeRejected
                }
                try await self.pausePolling()
                try await outbound.write(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(string: "5")))
                await self.switchedToWebSocket(outbound)
                while let frame = try await frames.next() {
                    guard await self.frameReceived(frame) else { break }
                }
                await self.finish(ClientCloseReason(.transportClose, detail: "the WebSocket closed"))
            }
        } catch {
            if isPolling {
                logger.info("upgrade to WebSocket failed; staying on polling", metadata: ["parley.error": "\(error)"])
                pollingPaused = false
                changed()
                wakeWriter()
            } else {
                finish(ClientCloseReason(.transportError, detail: "WebSocket failed: \(error)"))
            }
        }
    }

    /// Stops polling and waits for the GET and POST in flight to return (the server answers
    /// the GET with `noop` once it saw the probe).
    private func pausePolling() async throws {
        pollingPaused = true
        await waitUntil { !$0.pollInFlight && !$0.writing }
        if closed { throw TransportError.closed }
    }

    private func switchedToWebSocket(_ writer: NIOAsyncChannelOutboundWriter<WebSocketFrame>) {
        active = .websocket(writer)
        pollingPaused = false
        logger.debug("upgraded to websocket")
        eventSink.yield(.upgraded)
        changed()
        wakeWriter()
    }
}

/// Runs `operation`, failing with `DeadlineExceeded` after `timeout`.
func withDeadline<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw DeadlineExceeded(timeout: timeout)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// An operation took longer than allowed.
struct DeadlineExceeded: Error, CustomStringConvertible {
    let timeout: Duration
    var description: String { "no answer within \(timeout)" }
}
