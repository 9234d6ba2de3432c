import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization
import ParleyProtocol
import ParleyStore

/// What clients send that reliable delivery answers itself: events with an idempotency key
/// (`Protocol/reliable.md` § 5) and history requests (§ 4.2).
extension ReliableRuntime {
    /// The reserved event of history requests.
    static let historyEvent = "parley:history"

    /// Takes the event if reliable delivery handles it; `false` leaves it to the socket's
    /// handlers. Called on the connection's loop.
    func intercept(_ socket: Socket, name: String, payload: ByteBuffer, packet: SocketPacket) -> Bool {
        if name == Self.historyEvent {
            answerHistory(socket, payload: payload, ackID: packet.ackID)
            return true
        }
        guard Self.mayEndWithMarker(payload), let keyed = ReliableMarker.key(in: payload) else { return false }
        switch keyed {
        case .invalid(let reason):
            if let ackID = packet.ackID { reply(socket, ackID: ackID, ReliableMarker.errorAnswer("bad_request", reason), attachments: []) }
        case .keyed(let key, let stripped):
            // Waiting keyed events count against the connection's handlers in flight, so a
            // client cannot queue them without bound.
            guard socket.client.reserveHandler() else { return true }
            let attachments = packet.attachments
            let ackID = packet.ackID
            socket.keyedEvents.add({ [self] in
                await handleKeyed(socket, name: name, key: key, payload: stripped, attachments: attachments, ackID: ackID)
                socket.client.releaseHandler()
            }, on: tasks)
        }
        return true
    }

    /// A cheap test before the payload is scanned: a marker ends the array with `}}]`.
    private static func mayEndWithMarker(_ payload: ByteBuffer) -> Bool {
        let view = payload.readableBytesView
        var seen = 0
        for byte in view.reversed() {
            switch byte {
            case 0x20, 0x09, 0x0A, 0x0D: continue
            case UInt8(ascii: "]") where seen == 0, UInt8(ascii: "}") where seen == 1 || seen == 2:
                seen += 1
                if seen == 3 { return true }
            default: return false
            }
        }
        return false
    }

    // MARK: Events with an idempotency key

    private func handleKeyed(_ socket: Socket, name: String, key: String, payload: ByteBuffer, attachments: [ByteBuffer], ackID: UInt64?) async {
        guard let log else { return }
        let scope = IdempotencyScope(namespace: socket.namespace.name, user: socket.user ?? "", device: socket.device)
        let slot = KeySlot(scope: scope, key: key)
        let digest = ReliableMarker.digest(payload, attachments: attachments)
        // Another run of this key (a retry on another connection) answers first.
        claiming: while true {
            switch await claim(slot) {
            case .claimed:
                break claiming
            case .finished(let earlier?):
                answer(socket, ackID: ackID, with: earlier, digest: digest)
                return
            case .finished(nil):
                continue
            }
        }
        var record: IdempotencyRecord?
        defer { release(slot, record) }
        do {
            record = try await log.store.idempotencyRecord(scope, key: key)
        } catch {
            logger.error("reliable delivery could not read an idempotency key", metadata: ["parley.error": "\(error)"])
            if let ackID { reply(socket, ackID: ackID, ReliableMarker.errorAnswer("store_failed", "\(error)"), attachments: []) }
            return
        }
        if let record {
            answer(socket, ackID: ackID, with: record, digest: digest)
            return
        }
        let outcome = await runHandler(socket, name: name, payload: payload, attachments: attachments, origin: OriginCounter(base: "\(scope.namespace)\u{1}\(scope.user)\u{1}\(scope.device)\u{1}\(key)"), expectsAck: ackID != nil)
        switch outcome {
        case .failed(let code, let message):
            if let ackID { reply(socket, ackID: ackID, ReliableMarker.errorAnswer(code, message), attachments: []) }
        case .answered(let response, let responseAttachments):
            let answered = IdempotencyRecord(
                scope: scope, key: key, digest: digest,
                response: Array(response.readableBytesView), responseAttachments: responseAttachments.map { Array($0.readableBytesView) },
                timeMilliseconds: log.now
            )
            do {
                _ = try await log.perform(.remember(answered))
                record = answered
                answer(socket, ackID: ackID, with: answered, digest: digest)
            } catch {
                if let ackID { reply(socket, ackID: ackID, ReliableMarker.errorAnswer("store_failed", "\(error)"), attachments: []) }
            }
        }
    }

    private enum Claim {
        /// This caller runs the key.
        case claimed
        /// Another run of the key ended, with this record (`nil`: it kept none, try again).
        case finished(IdempotencyRecord?)
    }

    /// Claims the key, or waits for the run in progress.
    private func claim(_ slot: KeySlot) async -> Claim {
        let claimed = keysInFlight.withLockedValue { table -> Bool in
            guard table[slot] == nil else { return false }
            table[slot] = []
            return true
        }
        if claimed { return .claimed }
        let record = await withCheckedContinuation { (continuation: CheckedContinuation<IdempotencyRecord?, Never>) in
            let released = keysInFlight.withLockedValue { table -> Bool in
                guard table[slot] != nil else { return true }
                table[slot]?.append(continuation)
                return false
            }
            if released { continuation.resume(returning: nil) }
        }
        return .finished(record)
    }

    private func release(_ slot: KeySlot, _ record: IdempotencyRecord?) {
        let waiters = keysInFlight.withLockedValue { $0.removeValue(forKey: slot) } ?? []
        for waiter in waiters { waiter.resume(returning: record) }
    }

    private func answer(_ socket: Socket, ackID: UInt64?, with record: IdempotencyRecord, digest: UInt64) {
        guard let ackID else { return }
        guard record.digest == digest else {
            reply(socket, ackID: ackID, ReliableMarker.errorAnswer("key_reused", "idempotency key \(record.key) was used with another payload"), attachments: [])
            return
        }
        reply(socket, ackID: ackID, ByteBuffer(bytes: record.response), attachments: record.responseAttachments.map { ByteBuffer(bytes: $0) })
    }

    func reply(_ socket: Socket, ackID: UInt64, _ payload: ByteBuffer, attachments: [ByteBuffer]) {
        let packet = SocketPacket(
            type: attachments.isEmpty ? .ack : .binaryAck,
            namespace: socket.namespace.name,
            ackID: ackID,
            payload: payload,
            attachments: attachments
        )
        socket.write(EncodedPacket(packet), volatile: false)
    }

    private enum HandlerOutcome {
        case answered(ByteBuffer, [ByteBuffer])
        case failed(code: String, message: String)
    }

    /// Runs the socket's handler for the event with `origin` as the task's reliable origin and
    /// returns its answer.
    private func runHandler(_ socket: Socket, name: String, payload: ByteBuffer, attachments: [ByteBuffer], origin: OriginCounter, expectsAck: Bool) async -> HandlerOutcome {
        let (answering, plain) = socket.state.withLock { ($0.answerHandlers[name], $0.handlers[name] ?? $0.catchAll) }
        let arguments = SocketArguments(eventPayload: payload, attachments: attachments)
        if let answering {
            let event = SocketEvent(socket: socket, name: name, arguments: arguments, reply: nil)
            do {
                let result = try await ReliableOrigin.$current.withValue(origin) { try await answering(event) }
                let (json, binary) = try SocketPayloadEncoder.encode(name: nil, arguments: [result])
                return .answered(json, binary)
            } catch is CancellationError {
                // The server is shutting down: the client retries on its next connection.
                return .failed(code: "store_failed", message: "the server is shutting down")
            } catch {
                logger.error("event handler failed", metadata: ["parley.event": "\(name)", "parley.error": "\(error)"])
                return .failed(code: "handler_failed", message: "the handler failed")
            }
        }
        guard let plain else { return .failed(code: "no_handler", message: "no handler for \(name)") }
        let captured = AnswerCapture()
        let event = SocketEvent(socket: socket, name: name, arguments: arguments, reply: expectsAck ? AckReply(id: 0, capture: captured.take) : nil)
        do {
            try ReliableOrigin.$current.withValue(origin) { try plain(event) }
        } catch {
            logger.error("event handler failed", metadata: ["parley.event": "\(name)", "parley.error": "\(error)"])
            return .failed(code: "handler_failed", message: "the handler failed")
        }
        guard expectsAck else { return .answered(ByteBuffer(string: "[]"), []) }
        guard let (json, binary) = await captured.wait(timeout: configuration.handlerAnswerTimeout) else {
            return .failed(code: "handler_failed", message: "the handler did not answer")
        }
        return .answered(json, binary)
    }
}

/// The answer a plain handler gives through `event.ack`, possibly later, from another task.
final class AnswerCapture: Sendable {
    private struct State {
        var answer: (ByteBuffer, [ByteBuffer])?
        var waiter: CheckedContinuation<(ByteBuffer, [ByteBuffer])?, Never>?
        var done = false
    }

    private let state = NIOLockedValueBox(State())

    @Sendable func take(_ payload: ByteBuffer, _ attachments: [ByteBuffer]) {
        let waiter = state.withLockedValue { state -> CheckedContinuation<(ByteBuffer, [ByteBuffer])?, Never>? in
            guard !state.done else { return nil }
            state.answer = (payload, attachments)
            defer { state.waiter = nil }
            if state.waiter != nil { state.done = true }
            return state.waiter
        }
        waiter?.resume(returning: (payload, attachments))
    }

    func wait(timeout: Duration) async -> (ByteBuffer, [ByteBuffer])? {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(for: timeout) // cancelled once the answer came
                let waiter = self.state.withLockedValue { state in
                    state.done = true
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume(returning: nil)
            }
            let answer = await withCheckedContinuation { (continuation: CheckedContinuation<(ByteBuffer, [ByteBuffer])?, Never>) in
                let ready = state.withLockedValue { state -> (ByteBuffer, [ByteBuffer])?? in
                    if let answer = state.answer {
                        state.done = true
                        return .some(answer)
                    }
                    if state.done { return .some(nil) }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
            group.cancelAll()
            return answer
        }
    }
}
