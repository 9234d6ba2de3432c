import Foundation
import Logging
import NIOCore
import ParleyProtocol
import ParleyStore
import Synchronization

extension ClientSocket {
    /// The CONNECT packet for this socket: the auth object, plus `pid` and `offset` when a
    /// previous session can be recovered (the JS client's connection state recovery), plus
    /// `deviceId` with reliable delivery (`Protocol/reliable.md` § 1).
    ///
    /// With reliable delivery it also reads, once, what a previous run left in the outbox, so
    /// that it goes out right after the CONNECT reply.
    func connectPacket() async throws -> SocketPacket {
        var deviceID: String?
        if let runtime = manager.reliable {
            deviceID = try await runtime.opened().deviceID
            try await loadOutbox(runtime)
        }
        var authValue: (any Encodable & Sendable)?
        switch auth {
        case .none: authValue = nil
        case .value(let value): authValue = value
        case .provider(let provide): authValue = try await provide()
        }
        let recovery = state.withLock { state in state.pid.map { ($0, state.lastOffset) } }
        var fields: [String] = []
        if let authValue {
            let (json, _) = try SocketPayloadEncoder.encode(name: nil, arguments: [authValue])
            var object = String(buffer: json).dropFirst().dropLast()  // `[{...}]` → `{...}`
            guard object.first == "{" else { throw ConnectRefusedError(message: "auth must encode as a JSON object") }
            object = object.dropFirst().dropLast()
            if !object.isEmpty { fields.append(String(object)) }
        }
        if let (pid, offset) = recovery, let offset {
            fields.append("\"pid\":\(Self.jsonString(pid)),\"offset\":\(Self.jsonString(offset))")
        }
        if let deviceID { fields.append("\"deviceId\":\(Self.jsonString(deviceID))") }
        let payload = fields.isEmpty && authValue == nil ? nil : ByteBuffer(string: "{" + fields.joined(separator: ",") + "}")
        return SocketPacket(type: .connect, namespace: namespace, payload: payload)
    }

    private static func jsonString(_ value: String) -> String {
        var buffer = ByteBuffer()
        buffer.writeJSONString(value)
        return String(buffer: buffer)
    }

    /// Handles a packet the server sent to this namespace.
    func packetReceived(_ packet: SocketPacket) async {
        switch packet.type {
        case .connect:
            await connected(packet.payload)
        case .connectError:
            let refusal = Self.refusal(packet.payload)
            let handlers = state.withLock { $0.connectErrorHandlers }
            for handler in handlers { handler(refusal) }
        case .disconnect:
            state.withLock { $0.wantsConnection = false }
            disconnected(ClientCloseReason(.serverDisconnect))
        case .event, .binaryEvent:
            await eventReceived(packet)
        case .ack, .binaryAck:
            guard let id = packet.ackID else { return }
            let arguments = SocketArguments(json: packet.payload ?? ByteBuffer(string: "[]"), attachments: packet.attachments)
            if await outboxAckReceived(id, arguments) { return }
            state.withLock { $0.pendingAcks.removeValue(forKey: id) }?.resume(returning: arguments)
        }
    }

    private func connected(_ payload: ByteBuffer?) async {
        struct Reply: Decodable { var sid: String; var pid: String? }
        guard let payload, let reply = try? JSONDecoder().decode(Reply.self, from: Data(payload.readableBytesView)) else { return }
        let (received, handlers, wake) = state.withLock { state in
            state.recovered = reply.pid != nil && reply.pid == state.pid
            state.gaveUpRecovery = false
            if !state.recovered { state.lastOffset = nil }
            state.pid = reply.pid
            state.sid = reply.sid
            state.connected = true
            state.drainingBuffer = true
            let wake = state.reliable.apply(state.reliable.outbox.connected(now: .now, nextAckID: &state.nextAckID))
            defer { state.receivedEarly.removeAll() }
            return (state.receivedEarly, state.connectHandlers, wake)
        }
        // Like the JS client: events that came before the reply (a recovery replay, or a
        // server that emits before answering) are delivered first, then buffered emits go
        // out, then `connect` fires. Until the buffer is drained, new emits (from another
        // thread, or from those handlers) queue behind the older ones instead of overtaking them.
        // The outbox goes out before the buffer (`Protocol/client.md` § 7).
        for packet in received { await dispatch(packet) }
        sendOutbox(arming: wake)
        while true {
            let buffered = state.withLock { state in
                defer { state.buffer.removeAll() }
                if state.buffer.isEmpty { state.drainingBuffer = false }
                return state.buffer
            }
            if buffered.isEmpty { break }
            for packet in buffered { manager.send(packet, bypassingBuffer: true) }
        }
        for handler in handlers { handler() }
    }

    private func eventReceived(_ packet: SocketPacket) async {
        let limit = manager.configuration.maxEventsBeforeConnect
        let (early, overflowed) = state.withLock { state -> (Bool, Bool) in
            guard !state.connected else { return (false, false) }
            // After giving up, nothing more of this replay is kept.
            guard !state.gaveUpRecovery else { return (true, false) }
            guard state.receivedEarly.count < limit else {
                // More missed events than the client keeps: dropping some would leave a hole
                // that the offset then hides. Give the recovery up instead (see the setting).
                state.gaveUpRecovery = true
                state.receivedEarly.removeAll()
                state.pid = nil
                state.lastOffset = nil
                return (true, true)
            }
            state.receivedEarly.append(packet)
            return (true, false)
        }
        if overflowed {
            manager.logger.warning("more events before the CONNECT reply than maxEventsBeforeConnect: recovery given up", metadata: ["parley.limit": "\(limit)"])
        }
        if !early { await dispatch(packet) }
    }

    private func dispatch(_ packet: SocketPacket) async {
        guard let payload = packet.payload, let name = packet.eventName else { return }
        let nameText: String
        switch name {
        case .string(let text): nameText = text
        case .number(let number): nameText = String(number)
        }
        if let runtime = manager.reliable,
            let (marker, stripped) = ReliableMarker.extract(fromEvent: payload, allowingTrailingOffset: state.withLock { $0.pid != nil })
        {
            let arguments = SocketArguments(eventPayload: stripped, attachments: packet.attachments)
            await reliableEventReceived(nameText, arguments, marker: marker, ackID: packet.ackID, runtime: runtime)
            return
        }
        let arguments = SocketArguments(eventPayload: payload, attachments: packet.attachments)
        deliver(ClientEvent(name: nameText, arguments: arguments, reply: packet.ackID.map { ClientAckReply(id: $0, socket: self) }))
    }

    /// Passes an event to the application: the ``events`` stream, then its handler.
    func deliver(_ event: ClientEvent) {
        let handler = state.withLock { state -> (@Sendable (ClientEvent) throws -> Void)? in
            // With recovery on, the server appends the event's offset as a last string argument.
            if state.pid != nil, let offset = Self.lastString(event.arguments) { state.lastOffset = offset }
            return state.handlers[event.name] ?? state.catchAll
        }
        eventSink.yield(event)
        do {
            try handler?(event)
        } catch {
            manager.logger.error("event handler failed", metadata: ["parley.event": "\(event.name)", "parley.error": "\(error)"])
        }
    }

    /// An event that is not passed on (a repeat) still moves the recovery offset.
    func skip(_ arguments: SocketArguments) {
        guard state.withLock({ $0.pid != nil }), let offset = Self.lastString(arguments) else { return }
        state.withLock { state in if state.pid != nil { state.lastOffset = offset } }
    }

    private static func lastString(_ arguments: SocketArguments) -> String? {
        struct MaybeString: Decodable {
            let value: String?
            init(from decoder: any Decoder) throws { value = try? decoder.singleValueContainer().decode(String.self) }
        }
        return (try? arguments.decode([MaybeString].self))?.last?.value
    }

    private static func refusal(_ payload: ByteBuffer?) -> ConnectRefusedError {
        guard let payload else { return ConnectRefusedError(message: "refused") }
        let data = Data(payload.readableBytesView)
        if let message = try? JSONDecoder().decode(String.self, from: data) { return ConnectRefusedError(message: message) }
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        let message = object?["message"] as? String ?? "refused"
        let dataJSON = object?["data"].flatMap { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys, .fragmentsAllowed]) }
        return ConnectRefusedError(message: message, dataJSON: dataJSON.map { String(decoding: $0, as: UTF8.self) })
    }

    /// The socket left its namespace (or the connection ended) for `reason`.
    func disconnected(_ reason: ClientCloseReason) {
        let (wasConnected, handlers, acks, timer) = state.withLock { state in
            let was = state.connected
            state.connected = false
            state.drainingBuffer = false
            state.receivedEarly.removeAll()
            // Outbox emits in flight go again on the next connection; none is lost.
            state.reliable.outbox.disconnected()
            state.reliable.queue.removeAll()
            defer { state.reliable.timer = nil }
            // An ack of a packet that went out cannot arrive on another connection (a retry
            // sends the event again); a packet still in the buffer keeps waiting for its ack.
            let buffered = Set(state.buffer.compactMap(\.ackID))
            var failed: [CheckedContinuation<SocketArguments, any Error>] = []
            for (id, continuation) in state.pendingAcks where !buffered.contains(id) {
                failed.append(continuation)
                state.pendingAcks[id] = nil
            }
            return (was, state.disconnectHandlers, failed, state.reliable.timer?.scheduled)
        }
        timer?.cancel()
        for ack in acks { ack.resume(throwing: SocketDisconnectedClientError(reason: reason)) }
        guard wasConnected else { return }
        for handler in handlers { handler(reason) }
    }
}

/// The socket disconnected before the server acknowledged.
public struct SocketDisconnectedClientError: Error, Sendable, CustomStringConvertible {
    public var reason: ClientCloseReason
    public var description: String { "disconnected before the acknowledgement: \(reason)" }
}
