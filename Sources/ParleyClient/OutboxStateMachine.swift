import NIOCore
import ParleyProtocol
import ParleyStore

/// The durable outbox of one client socket (`Protocol/reliable.md` § 6.1), without I/O: which
/// emits go out, in which order, with which ack id, and what an acknowledgement does. The
/// driver (`ClientSocket+Reliable`) keeps the store in step and sends the packets it returns.
///
/// - Emits go out by sequence, at most `window` unacknowledged. One whose store write is still
///   going holds back the ones after it, so the wire order is the outbox order.
/// - Nothing goes out before the items a previous run left were loaded, so they go first.
/// - A lost connection forgets the ack ids: every emit not acknowledged goes out again on the
///   next connection.
/// - An answer `store_failed` sends the emit again after a delay that doubles each time.
struct OutboxStateMachine: Sendable {
    /// One emit of the outbox.
    struct Entry: Sendable {
        let sequence: UInt64
        let key: String
        /// The event with its marker, as it is sent each time.
        let payload: ByteBuffer
        let attachments: [ByteBuffer]
        /// Kept by the store (always, for an item loaded from it).
        var written: Bool
        /// The ack id of the send in flight on this connection.
        var ackID: UInt64?
        /// `store_failed` answers in a row.
        var failures = 0
        /// Not sent again before this (after `store_failed`).
        var notBefore: ContinuousClock.Instant?
        /// The caller waiting for the answer; `nil` for an item of a previous run.
        let answer: ReliableAnswer?

        init(sequence: UInt64, key: String, payload: ByteBuffer, attachments: [ByteBuffer], written: Bool, answer: ReliableAnswer?) {
            self.sequence = sequence
            self.key = key
            self.payload = payload
            self.attachments = attachments
            self.written = written
            self.answer = answer
        }

        init(item: ClientOutboxItem) {
            self.init(
                sequence: item.sequence,
                key: item.key,
                payload: ByteBuffer(bytes: item.payload),
                attachments: item.attachments.map { ByteBuffer(bytes: $0) },
                written: true,
                answer: nil
            )
        }
    }

    /// What the server answered to an emit.
    enum AckOutcome: Sendable {
        /// Any answer but an error marker: the emit took effect.
        case answered(SocketArguments)
        /// An error marker: the emit is refused for good.
        case refused(code: String, message: String?)
        /// `store_failed`: send it again later.
        case retryLater

        init(_ arguments: SocketArguments) {
            if let marker = ReliableMarker.error(inAnswer: arguments), let code = marker.error {
                self = code == ReliableErrorCode.storeFailed.wireName ? .retryLater : .refused(code: code, message: marker.message)
            } else {
                self = .answered(arguments)
            }
        }
    }

    /// An emit that left the outbox, for the driver to remove from the store and answer.
    struct Removal: Sendable {
        let key: String
        let answer: ReliableAnswer?
        let result: Result<SocketArguments, any Error>
    }

    /// What the driver does after an event.
    struct Output: Sendable {
        /// Packets to send, in order.
        var packets: [SocketPacket] = []
        /// Call ``timerFired(now:nextAckID:)`` at this instant (an emit waits after `store_failed`).
        var wakeAt: ContinuousClock.Instant?
    }

    let namespace: String
    let window: Int
    let retryDelay: Duration
    let maximumRetryDelay: Duration
    /// By sequence.
    private(set) var entries: [Entry] = []
    private var loaded = false
    private var connected = false
    /// Ack id → sequence, of the sends in flight.
    private var inFlight: [UInt64: UInt64] = [:]

    init(namespace: String, window: Int = 32, retryDelay: Duration = .seconds(1), maximumRetryDelay: Duration = .seconds(30)) {
        self.namespace = namespace
        self.window = max(1, window)
        self.retryDelay = retryDelay
        self.maximumRetryDelay = maximumRetryDelay
    }

    /// The emits kept in the store and not yet acknowledged.
    var depth: Int { entries.count { $0.written } }

    /// A new emit, before its store write.
    mutating func added(_ entry: Entry) {
        insert(entry)
    }

    /// The store kept the emit `key`.
    mutating func written(key: String, now: ContinuousClock.Instant, nextAckID: inout UInt64) -> Output {
        if let index = entries.firstIndex(where: { $0.key == key }) { entries[index].written = true }
        return pump(now: now, nextAckID: &nextAckID)
    }

    /// The store could not keep the emit `key`: it is forgotten (its caller gets the error).
    mutating func writeFailed(key: String, now: ContinuousClock.Instant, nextAckID: inout UInt64) -> Output {
        entries.removeAll { $0.key == key }
        return pump(now: now, nextAckID: &nextAckID)
    }

    /// The items a previous run left in the store, read once; the outbox can start sending.
    mutating func loaded(_ items: [Entry], now: ContinuousClock.Instant, nextAckID: inout UInt64) -> Output {
        let known = Set(entries.map(\.key))
        for item in items where !known.contains(item.key) { insert(item) }
        loaded = true
        return pump(now: now, nextAckID: &nextAckID)
    }

    /// The socket joined its namespace.
    mutating func connected(now: ContinuousClock.Instant, nextAckID: inout UInt64) -> Output {
        connected = true
        return pump(now: now, nextAckID: &nextAckID)
    }

    /// The socket left its namespace: what was in flight goes again on the next connection.
    mutating func disconnected() {
        connected = false
        for index in entries.indices { entries[index].ackID = nil }
        inFlight.removeAll()
    }

    /// An acknowledgement came; `nil` when `ackID` is not one of the outbox's.
    mutating func ackReceived(_ ackID: UInt64, outcome: AckOutcome, now: ContinuousClock.Instant, nextAckID: inout UInt64) -> (Removal?, Output)? {
        guard let sequence = inFlight.removeValue(forKey: ackID), let index = index(of: sequence) else { return nil }
        var removal: Removal?
        switch outcome {
        case .retryLater:
            entries[index].ackID = nil
            entries[index].failures += 1
            entries[index].notBefore = now.advanced(by: delay(afterFailures: entries[index].failures))
        case .answered(let arguments):
            let entry = entries.remove(at: index)
            removal = Removal(key: entry.key, answer: entry.answer, result: .success(arguments))
        case .refused(let code, let message):
            let entry = entries.remove(at: index)
            let error = ReliableEmitError(ReliableErrorCode(wireName: code), message: message, key: entry.key)
            removal = Removal(key: entry.key, answer: entry.answer, result: .failure(error))
        }
        return (removal, pump(now: now, nextAckID: &nextAckID))
    }

    /// The instant of an earlier ``Output/wakeAt`` came.
    mutating func timerFired(now: ContinuousClock.Instant, nextAckID: inout UInt64) -> Output {
        pump(now: now, nextAckID: &nextAckID)
    }

    /// Sends what may go now.
    private mutating func pump(now: ContinuousClock.Instant, nextAckID: inout UInt64) -> Output {
        var output = Output()
        guard connected, loaded else { return output }
        for index in entries.indices {
            guard inFlight.count < window else { break }
            if entries[index].ackID != nil { continue }
            // Order: nothing overtakes an emit the store has not kept yet.
            guard entries[index].written else { break }
            if let notBefore = entries[index].notBefore, notBefore > now {
                output.wakeAt = min(output.wakeAt ?? notBefore, notBefore)
                continue
            }
            let ackID = nextAckID
            nextAckID += 1
            entries[index].ackID = ackID
            entries[index].notBefore = nil
            inFlight[ackID] = entries[index].sequence
            let entry = entries[index]
            output.packets.append(SocketPacket(
                type: entry.attachments.isEmpty ? .event : .binaryEvent,
                namespace: namespace,
                ackID: ackID,
                payload: entry.payload,
                attachments: entry.attachments
            ))
        }
        return output
    }

    private func delay(afterFailures failures: Int) -> Duration {
        var delay = retryDelay
        for _ in 1..<max(1, min(failures, 32)) where delay < maximumRetryDelay { delay *= 2 }
        return min(delay, maximumRetryDelay)
    }

    private mutating func insert(_ entry: Entry) {
        if let last = entries.last, last.sequence > entry.sequence {
            entries.insert(entry, at: entries.firstIndex { $0.sequence > entry.sequence } ?? entries.endIndex)
        } else {
            entries.append(entry)
        }
    }

    private func index(of sequence: UInt64) -> Int? {
        var low = 0
        var high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if entries[middle].sequence < sequence { low = middle + 1 } else { high = middle }
        }
        return low < entries.count && entries[low].sequence == sequence ? low : nil
    }
}
