import Foundation
import Logging
import NIOCore
public import ParleyProtocol
import ParleyStore
import Synchronization

/// The durable outbox of a client socket (`Protocol/reliable.md` § 5, § 6.1,
/// `Protocol/client.md` § 7): emits written to the store before they are sent, sent again after
/// every reconnection or restart of the app until the server acknowledges them.
extension ClientSocket {
    /// Sends an event that takes effect once: it gets an idempotency key, is written to the
    /// outbox of ``SocketClientConfiguration/reliable`` before this returns, and is sent — in
    /// order with the other reliable emits, again after each reconnection, and by the next run
    /// of the app if this one ends first — until the server acknowledges it.
    ///
    /// ```swift
    /// let sent = try await chat.emitReliable("send", Message(to: "alice", text: "hi"))
    /// let reply = try await sent.answer()  // optional: the emit goes out either way
    /// ```
    ///
    /// The arguments are encoded once, with the marker `{"parley":{"key":"<device id>.<n>"}}`
    /// last; every retry sends those bytes.
    ///
    /// - Returns: the emit's key and a way to wait for the server's answer.
    /// - Throws: ``ReliableEmitError`` with ``ReliableErrorCode/notEnabled`` without a reliable
    ///   configuration; `StoreError` when the store cannot keep the emit (it is not sent);
    ///   `EncodingError`.
    public func emitReliable(_ event: String, _ arguments: any Encodable & Sendable...) async throws -> ReliableEmit {
        guard let runtime = manager.reliable else { throw ReliableEmitError(.notEnabled) }
        let opened = try await runtime.opened()
        try await loadOutbox(runtime)
        let (payload, attachments) = try SocketPayloadEncoder.encode(name: event, arguments: arguments)
        let answer = ReliableAnswer()
        let entry = state.withLock { state in
            // The sequence is taken under the lock that orders the outbox: sequence order is
            // outbox order.
            let sequence = runtime.nextSequence()
            let key = "\(opened.deviceID).\(sequence)"
            let entry = OutboxStateMachine.Entry(
                sequence: sequence,
                key: key,
                payload: ReliableMarker.appending(key: key, to: payload),
                attachments: attachments,
                written: false,
                answer: answer
            )
            state.reliable.outbox.added(entry)
            return entry
        }
        let item = ClientOutboxItem(
            sequence: entry.sequence,
            key: entry.key,
            namespace: namespace,
            payload: Array(entry.payload.readableBytesView),
            attachments: attachments.map { Array($0.readableBytesView) },
            timeMilliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded())
        )
        do {
            try await runtime.store.addToOutbox(item)
        } catch {
            updateOutbox { outbox, now, nextAckID in ((), outbox.writeFailed(key: entry.key, now: now, nextAckID: &nextAckID)) }
            throw error
        }
        updateOutbox { outbox, now, nextAckID in ((), outbox.written(key: entry.key, now: now, nextAckID: &nextAckID)) }
        return ReliableEmit(key: entry.key, box: answer)
    }

    /// The reliable emits of this socket not yet acknowledged: those of this run and, once read
    /// (which this does), those a previous run left.
    ///
    /// - Throws: ``ReliableEmitError`` with ``ReliableErrorCode/notEnabled`` without a reliable
    ///   configuration; `StoreError` when the store cannot be read.
    public func outboxDepth() async throws -> Int {
        guard let runtime = manager.reliable else { throw ReliableEmitError(.notEnabled) }
        _ = try await runtime.opened()
        try await loadOutbox(runtime)
        return state.withLock { $0.reliable.outbox.depth }
    }

    /// Reads, on the first call, the items a previous run left in the outbox.
    func loadOutbox(_ runtime: ClientReliableRuntime) async throws {
        try await outboxLoad.value {
            let items = try await runtime.store.outbox(namespace: namespace)
            updateOutbox { outbox, now, nextAckID in
                ((), outbox.loaded(items.map(OutboxStateMachine.Entry.init(item:)), now: now, nextAckID: &nextAckID))
            }
        }
    }

    /// Handles an acknowledgement if it answers an outbox emit: the emit leaves the store, then
    /// its caller gets the answer.
    ///
    /// - Returns: whether it did.
    func outboxAckReceived(_ id: UInt64, _ arguments: SocketArguments) async -> Bool {
        guard let runtime = manager.reliable else { return false }
        let outcome = OutboxStateMachine.AckOutcome(arguments)
        let handled = updateOutbox { outbox, now, nextAckID -> (OutboxStateMachine.Removal??, OutboxStateMachine.Output) in
            guard let (removal, output) = outbox.ackReceived(id, outcome: outcome, now: now, nextAckID: &nextAckID) else {
                return (nil, OutboxStateMachine.Output())
            }
            return (.some(removal), output)
        }
        guard let removal = handled else { return false }
        if case .retryLater = outcome {
            manager.logger.warning("the server could not store an answer: the emit goes again later", metadata: ["parley.nsp": "\(namespace)"])
        }
        guard let removal else { return true }
        do {
            try await runtime.store.removeFromOutbox(key: removal.key)
        } catch {
            // The emit is then sent again by a later run; the server answers it from its record.
            manager.logger.error("could not remove an acknowledged emit from the outbox", metadata: ["parley.key": "\(removal.key)", "parley.error": "\(error)"])
        }
        removal.answer?.resolve(removal.result)
        return true
    }

    /// Runs `body` on the outbox under the socket's lock, then sends what it returned and arms
    /// its timer.
    @discardableResult
    func updateOutbox<Value>(
        _ body: (inout OutboxStateMachine, ContinuousClock.Instant, inout UInt64) -> (Value, OutboxStateMachine.Output)
    ) -> Value {
        let now = ContinuousClock.now
        let (result, wake) = state.withLock { state in
            let (result, output) = body(&state.reliable.outbox, now, &state.nextAckID)
            return (result, state.reliable.apply(output))
        }
        sendOutbox(arming: wake)
        return result
    }

    /// Sends the queued outbox packets, unless another thread is at it (it sends them then),
    /// and arms the outbox timer for `wake`.
    func sendOutbox(arming wake: ContinuousClock.Instant?) {
        if let wake { armOutboxTimer(at: wake) }
        var claimed = false
        while true {
            let batch = state.withLock { state -> [SocketPacket] in
                if !claimed {
                    guard !state.reliable.sending else { return [] }
                    state.reliable.sending = true
                    claimed = true
                }
                defer { state.reliable.queue.removeAll() }
                if state.reliable.queue.isEmpty { state.reliable.sending = false }
                return state.reliable.queue
            }
            if batch.isEmpty { return }
            for packet in batch { manager.send(packet, bypassingBuffer: true) }
        }
    }

    private func armOutboxTimer(at instant: ContinuousClock.Instant) {
        let delay = max(instant - ContinuousClock.now, .zero)
        let scheduled = manager.eventLoopGroup.next().scheduleTask(in: TimeAmount(delay)) { [weak self] in
            guard let self else { return }
            self.outboxTimerFired()
        }
        let replaced = state.withLock { state -> Scheduled<Void>? in
            // Another thread armed an earlier one meanwhile: it will do.
            if let timer = state.reliable.timer, timer.at <= instant { return scheduled }
            defer { state.reliable.timer = (instant, scheduled) }
            return state.reliable.timer?.scheduled
        }
        replaced?.cancel()
    }

    private func outboxTimerFired() {
        state.withLock { $0.reliable.timer = nil }
        updateOutbox { outbox, now, nextAckID in ((), outbox.timerFired(now: now, nextAckID: &nextAckID)) }
    }
}
