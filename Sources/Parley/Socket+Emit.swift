import Logging
import NIOCore
import ParleyEngine
public import ParleyProtocol
import Synchronization

/// Waits for the acknowledgement of one emitted event.
struct AckWaiter: Sendable {
    let complete: @Sendable (Result<SocketArguments, any Error>) -> Void
    /// The deadline's timer, cancelled as soon as the ack arrives or the socket leaves, so a
    /// broadcast to many sockets leaves no live timers behind once they all answered.
    var timer: Scheduled<Void>?
}

extension Socket {
    /// Sends an event to this socket's client.
    ///
    /// `Data` anywhere inside the arguments travels as a binary attachment.
    /// - Throws: `EncodingError` when an argument cannot be encoded.
    public func emit(_ event: String, _ arguments: any Encodable & Sendable...) throws {
        let packet = try Self.eventPacket(event, arguments, namespace: namespace.name, ackID: nil)
        namespace.adapter.send(packet, to: self)
    }

    /// Sends an event whose arguments are already encoded, without decoding or re-encoding them.
    public func emit(_ event: String, arguments: SocketArguments) {
        let packet = SocketPacket(
            type: arguments.attachments.isEmpty ? .event : .binaryEvent,
            namespace: namespace.name,
            payload: arguments.eventPayload(name: event),
            attachments: arguments.attachments
        )
        namespace.adapter.send(packet, to: self)
    }

    /// Sends an event and waits for the client's acknowledgement.
    ///
    /// - Returns: the arguments the client acknowledged with.
    /// - Throws: ``AckTimeoutError`` after `timeout`, ``SocketDisconnectedError`` if the socket
    ///   leaves first, `EncodingError` when an argument cannot be encoded.
    public func emitWithAck(_ event: String, _ arguments: any Encodable & Sendable..., timeout: Duration = .seconds(10)) async throws -> SocketArguments {
        let id = namespace.nextAckID()
        let packet = try Self.eventPacket(event, arguments, namespace: namespace.name, ackID: id)
        return try await send(packet, awaitingAck: id, event: event, timeout: timeout)
    }

    /// Sends an event whose arguments are already encoded (e.g. what another client sent,
    /// attachments included) and waits for the client's acknowledgement, without decoding or
    /// re-encoding them.
    ///
    /// - Returns: the arguments the client acknowledged with.
    /// - Throws: ``AckTimeoutError`` after `timeout`, ``SocketDisconnectedError`` if the socket
    ///   leaves first.
    public func emitWithAck(_ event: String, arguments: SocketArguments, timeout: Duration = .seconds(10)) async throws -> SocketArguments {
        let id = namespace.nextAckID()
        let packet = SocketPacket(
            type: arguments.attachments.isEmpty ? .event : .binaryEvent,
            namespace: namespace.name,
            ackID: id,
            payload: arguments.eventPayload(name: event),
            attachments: arguments.attachments
        )
        return try await send(packet, awaitingAck: id, event: event, timeout: timeout)
    }

    /// Writes `packet` (an event carrying ack id `id`) and waits for its acknowledgement.
    private func send(_ packet: SocketPacket, awaitingAck id: UInt64, event: String, timeout: Duration) async throws -> SocketArguments {
        let encoded = EncodedPacket(packet)
        return try await withCheckedThrowingContinuation { continuation in
            let socketID = self.id
            expectAck(id, timeout: timeout) { result in
                continuation.resume(with: result.mapError { error in
                    error is AckTimeout ? AckTimeoutError(event: event, missing: [socketID], received: []) : error
                })
            }
            write(encoded, volatile: false)
        }
    }

    static func eventPacket(_ event: String, _ arguments: [any Encodable], namespace: String, ackID: UInt64?) throws -> SocketPacket {
        let (payload, attachments) = try SocketPayloadEncoder.encode(name: event, arguments: arguments)
        return SocketPacket(
            type: attachments.isEmpty ? .event : .binaryEvent,
            namespace: namespace,
            ackID: ackID,
            payload: payload,
            attachments: attachments
        )
    }

    /// Registers `complete` for the ack `id`, failing it with ``AckTimeout`` after `timeout`
    /// (never when `nil`: it waits as long as the socket is connected).
    func expectAck(_ id: UInt64, timeout: Duration?, complete: @escaping @Sendable (Result<SocketArguments, any Error>) -> Void) {
        let connected = state.withLock { state in
            guard state.connected else { return false }
            state.pendingAcks[id] = AckWaiter(complete: complete)
            return true
        }
        guard connected else {
            complete(.failure(SocketDisconnectedError(reason: SocketDisconnectReason(.transportClose))))
            return
        }
        guard let timeout else { return }
        // Weak: a socket that left must not be kept alive by its unanswered acks' timers.
        let timer = transport.eventLoop.scheduleTask(in: TimeAmount(timeout)) { [weak self] () -> Void in
            self?.takeAck(id)?.complete(.failure(AckTimeout()))
        }
        let waiting = state.withLock { state in
            guard state.pendingAcks[id] != nil else { return false }
            state.pendingAcks[id]?.timer = timer
            return true
        }
        // Answered (or the socket left) before the timer was in place.
        if !waiting { timer.cancel() }
    }

    /// Removes the waiter of ack `id` and cancels its timer.
    private func takeAck(_ id: UInt64) -> AckWaiter? {
        let waiter = state.withLock { $0.pendingAcks.removeValue(forKey: id) }
        waiter?.timer?.cancel()
        return waiter
    }

    /// Writes an encoded packet to this socket's connection (or, while a recovered socket's
    /// missed packets are read, queues it behind them; a volatile one is dropped then).
    func write(_ packet: EncodedPacket, volatile: Bool) {
        if isHolding.load(ordering: .acquiring) {
            let held = state.withLock { state -> Bool in
                guard isHolding.load(ordering: .relaxed) else { return false }
                if !volatile { state.held.append(packet) }
                return true
            }
            if held { return }
        }
        writeNow(packet, volatile: volatile)
    }

    /// Writes an encoded packet to this socket's connection.
    func writeNow(_ packet: EncodedPacket, volatile: Bool) {
        if volatile {
            guard transport.sendVolatile(packet.text) else { return }
        } else {
            transport.send(packet.text)
        }
        for attachment in packet.attachments { transport.send(attachment) }
    }

    // MARK: Inbound (on the connection's event loop)

    /// Runs the handler for an event the client sent.
    func eventReceived(_ packet: SocketPacket) {
        guard let payload = packet.payload, case .string(let name)? = packet.eventName else {
            // Numeric event names are legal on the wire; they have no string handler here.
            if case .number(let number)? = packet.eventName { dispatch(name: String(number), packet: packet) }
            return
        }
        dispatch(name: name, payload: payload, packet: packet)
    }

    private func dispatch(name: String, packet: SocketPacket) {
        guard let payload = packet.payload else { return }
        dispatch(name: name, payload: payload, packet: packet)
    }

    private func dispatch(name: String, payload: ByteBuffer, packet: SocketPacket) {
        if let reliable = namespace.core.reliable, reliable.intercept(self, name: name, payload: payload, packet: packet) { return }
        let handler = state.withLock { state -> (@Sendable (SocketEvent) throws -> Void)? in
            guard state.connected else { return nil }
            return state.handlers[name] ?? state.catchAll
        }
        guard let handler else { return }
        let event = SocketEvent(
            socket: self,
            name: name,
            arguments: SocketArguments(eventPayload: payload, attachments: packet.attachments),
            reply: packet.ackID.map { AckReply(id: $0) }
        )
        do {
            try handler(event)
        } catch {
            namespace.core.logger.error(
                "event handler failed",
                metadata: ["parley.nsp": "\(namespace.name)", "parley.event": "\(name)", "parley.error": "\(error)"]
            )
        }
    }

    /// Completes the `emitWithAck` the client answered.
    func ackReceived(_ packet: SocketPacket) {
        guard let id = packet.ackID, let waiter = takeAck(id) else { return }
        let arguments = SocketArguments(json: packet.payload ?? ByteBuffer(string: "[]"), attachments: packet.attachments)
        waiter.complete(.success(arguments))
    }

    /// Leaves the namespace: `disconnecting` handlers, rooms, pending acks, `disconnect` handlers.
    func disconnected(_ reason: SocketDisconnectReason) {
        let disconnecting = state.withLock { state -> [@Sendable (SocketDisconnectReason) -> Void]? in
            guard state.connected else { return nil }
            return state.disconnectingHandlers
        }
        guard let disconnecting else { return }
        for handler in disconnecting { handler(reason) }
        namespace.recovering?.socketLeft(self, rooms: rooms, reason: reason)
        let (acks, handlers) = state.withLock { state in
            state.connected = false
            // Handlers usually capture their socket: dropping them breaks that cycle.
            defer {
                state.pendingAcks.removeAll()
                state.handlers.removeAll()
                state.answerHandlers.removeAll()
                state.catchAll = nil
                state.disconnectingHandlers.removeAll()
                state.disconnectHandlers.removeAll()
            }
            return (Array(state.pendingAcks.values), state.disconnectHandlers)
        }
        namespace.remove(self)
        namespace.core.reliable?.socketLeft(self)
        for ack in acks {
            ack.timer?.cancel()
            ack.complete(.failure(SocketDisconnectedError(reason: reason)))
        }
        namespace.core.logger.debug("socket disconnected", metadata: ["parley.nsp": "\(namespace.name)", "parley.socket": "\(id)", "parley.reason": "\(reason)"])
        for handler in handlers { handler(reason) }
    }
}

/// Internal marker: an ack deadline passed.
struct AckTimeout: Error {}
