import Logging
import NIOCore
import ParleyProtocol
import ParleyStore

/// Delivers one user's queue to one socket (`Protocol/reliable.md` § 3.2): pending messages
/// from the store, then new ones as they are committed, in sequence order, at most
/// ``ReliableDelivery/deliveryWindow`` unacknowledged; acknowledgements move the device's
/// position.
///
/// Every decision runs on the socket's event loop, so messages reach the connection in the
/// order they were decided. Reads of the store run on the server's tasks and come back to the
/// loop.
final class DeliveryCursor: @unchecked Sendable {
    // @unchecked: the mutable state below is only touched on `loop`.
    let socket: Socket
    let queue: UserQueue
    private let log: ReliableLog
    private let runtime: ReliableRuntime
    private let loop: any EventLoop
    private let window: Int

    private var started = false
    private var closed = false
    /// Sent on this connection, oldest first, with whether each was acknowledged.
    private var inFlight: [(sequence: UInt64, acknowledged: Bool)] = []
    private var inFlightHead = 0
    /// The highest sequence sent (or known acknowledged before).
    private var sentThrough: UInt64 = 0
    /// Every message up to it is acknowledged.
    private var position: UInt64 = 0
    private var persistedPosition: UInt64 = 0
    /// Everything committed so far was sent: new messages can go out as they come.
    private var caughtUp = false
    private var fetching = false
    /// Messages committed while a read of the store was running.
    private var committedWhileFetching: [QueuedMessage] = []
    private var committedOverflow = false

    init(socket: Socket, queue: UserQueue, log: ReliableLog, runtime: ReliableRuntime) {
        self.socket = socket
        self.queue = queue
        self.log = log
        self.runtime = runtime
        self.loop = socket.eventLoop
        self.window = max(1, runtime.configuration.deliveryWindow)
    }

    private var unacknowledged: Int { inFlight.count - inFlightHead }

    // MARK: Events (any thread)

    func start() {
        loop.execute { self.fetch(initial: true) }
    }

    func close() {
        loop.execute { self.closed = true }
    }

    /// A message of this queue was committed.
    func live(_ message: QueuedMessage) {
        loop.execute { self.committed(message) }
    }

    // MARK: On the loop

    private func committed(_ message: QueuedMessage) {
        guard !closed, started, message.sequence > sentThrough else { return }
        if fetching {
            if committedWhileFetching.count < window * 4 {
                committedWhileFetching.append(message)
            } else {
                committedOverflow = true
            }
            return
        }
        if caughtUp, unacknowledged < window {
            send(message)
        } else {
            caughtUp = false
            fetchIfRoom()
        }
    }

    private func fetchIfRoom() {
        guard !closed, !fetching, !caughtUp, unacknowledged <= window / 2 else { return }
        fetch(initial: false)
    }

    private func fetch(initial: Bool) {
        guard !closed, !fetching else { return }
        started = true
        fetching = true
        let after = sentThrough
        let limit = window - unacknowledged
        let device = socket.device
        let store = log.store
        let queue = self.queue
        let started = runtime.tasks.run { [self] in
            do {
                var from = after
                var stored: UInt64?
                if initial {
                    let known = try await store.position(of: device, in: queue) ?? 0
                    stored = known
                    from = max(from, known)
                }
                let messages = try await store.messages(in: queue, after: from, limit: limit)
                let storedPosition = stored
                loop.execute { self.fetched(messages, limit: limit, storedPosition: storedPosition) }
            } catch {
                runtime.logger.error("reliable delivery could not read the queue", metadata: ["parley.queue": "\(queue)", "parley.error": "\(error)"])
                loop.scheduleTask(in: .seconds(1)) {
                    self.fetching = false
                    self.fetch(initial: initial)
                }
            }
        }
        if !started { fetching = false }
    }

    private func fetched(_ messages: [QueuedMessage], limit: Int, storedPosition: UInt64?) {
        fetching = false
        guard !closed else { return }
        if let storedPosition {
            position = max(position, storedPosition)
            persistedPosition = max(persistedPosition, storedPosition)
            sentThrough = max(sentThrough, position)
        }
        for message in messages where message.sequence > sentThrough { send(message) }
        if messages.count < limit, !committedOverflow {
            // The store had nothing more when it was read; what was committed since came here.
            caughtUp = true
            for message in committedWhileFetching where message.sequence > sentThrough {
                guard unacknowledged < window else {
                    caughtUp = false
                    break
                }
                send(message)
            }
        } else {
            caughtUp = false
        }
        committedWhileFetching.removeAll()
        committedOverflow = false
        fetchIfRoom()
    }

    private func send(_ message: QueuedMessage) {
        let ackID = socket.namespace.nextAckID()
        let packet = ReliableMarker.userPacket(message.message, epoch: log.epoch, sequence: message.sequence, namespace: socket.namespace.name, ackID: ackID)
        inFlight.append((message.sequence, false))
        sentThrough = message.sequence
        let sequence = message.sequence
        // No timer: the window slot is held until the ack comes or the connection ends (then
        // the message goes out again on the device's next connection).
        socket.expectAck(ackID, timeout: nil) { [weak self] result in
            guard case .success = result, let self else { return }
            if self.loop.inEventLoop {
                self.acknowledged(sequence)
            } else {
                self.loop.execute { self.acknowledged(sequence) }
            }
        }
        socket.write(EncodedPacket(packet), volatile: false)
    }

    private func acknowledged(_ sequence: UInt64) {
        guard !closed else { return }
        // Usually the oldest; a client may answer out of order.
        guard let index = inFlight[inFlightHead...].firstIndex(where: { $0.sequence == sequence }) else { return }
        inFlight[index].acknowledged = true
        while inFlightHead < inFlight.count, inFlight[inFlightHead].acknowledged {
            position = max(position, inFlight[inFlightHead].sequence)
            inFlightHead += 1
        }
        if inFlightHead > 1_024 || inFlightHead == inFlight.count {
            inFlight.removeFirst(inFlightHead)
            inFlightHead = 0
        }
        if position > persistedPosition {
            persistedPosition = position
            log.submit(.acknowledge(queue, device: socket.device, through: position))
        }
        fetchIfRoom()
    }
}
