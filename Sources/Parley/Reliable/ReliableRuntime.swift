import Logging
import NIOConcurrencyHelpers
import NIOCore
import ParleyProtocol
import ParleyStore

/// The server-wide part of reliable delivery: the log once the server opened its store, the
/// delivery cursors of identified sockets by user, and the idempotency keys being answered.
final class ReliableRuntime: Sendable {
    let configuration: ReliableDelivery
    let tasks: HandlerTasks
    let logger: Logger
    private let opened = NIOLockedValueBox<ReliableLog?>(nil)
    private let core = NIOLockedValueBox<WeakCore>(WeakCore())
    /// The cursors of connected sockets, by their user's queue.
    private let lanes = NIOLockedValueBox<[UserQueue: [ObjectIdentifier: DeliveryCursor]]>([:])
    /// Keys whose handler is running, with who waits for the answer.
    let keysInFlight = NIOLockedValueBox<[KeySlot: [CheckedContinuation<IdempotencyRecord?, Never>]]>([:])

    struct WeakCore {
        weak var core: SocketServerCore?
    }

    /// An idempotency key in its scope.
    struct KeySlot: Hashable {
        var scope: IdempotencyScope
        var key: String
    }

    init(configuration: ReliableDelivery, tasks: HandlerTasks, logger: Logger) {
        self.configuration = configuration
        self.tasks = tasks
        self.logger = logger
    }

    func attach(to core: SocketServerCore) {
        self.core.withLockedValue { $0.core = core }
    }

    /// The log; `nil` until the server started.
    var log: ReliableLog? { opened.withLockedValue { $0 } }

    /// Opens the store (once).
    func open() async throws -> ReliableLog {
        if let log { return log }
        let log = try await ReliableLog.open(store: configuration.store, configuration: configuration.log, logger: logger, committed: { [weak self] batch in
            self?.committed(batch)
        })
        return opened.withLockedValue { opened in
            if let existing = opened { return existing }
            opened = log
            return log
        }
    }

    private func requireLog() throws -> ReliableLog {
        guard let log else { throw ReliableError(.notEnabled, detail: "the server is not running") }
        return log
    }

    // MARK: Accepting messages

    /// Queues an event for `user` of `namespace`; returns its message id once committed.
    func enqueue(_ packet: SocketPacket, namespace: String, user: String) async throws -> String {
        let log = try requireLog()
        let message = try storedMessage(packet, log: log)
        let queue = UserQueue(namespace: namespace, user: user)
        let origin = ReliableOrigin.current?.next()
        switch try await perform(.enqueue(queue, message, bounds: configuration.queueBounds, origin: origin), log: log) {
        case .enqueued(let sequence, _, _):
            return ReliableMarker.position(epoch: log.epoch, sequence)
        case .queueFull(let state):
            throw ReliableError(.queueFull, detail: "the queue of \(queue) holds \(state.messages) messages, \(state.bytes) bytes", queueState: state)
        case .appended, .applied:
            throw ReliableError(.storeFailed, detail: "the store answered an enqueue with another outcome")
        }
    }

    /// Appends an event to the history of `room`; returns its offset once committed (the
    /// room's members but `exceptSocket` get it from the commit, in offset order).
    func append(_ packet: SocketPacket, namespace: String, room: String, exceptSocket: String?) async throws -> String {
        let log = try requireLog()
        guard packet.attachments.isEmpty else {
            throw ReliableError(.unsupported, detail: "a room's history keeps no binary attachments")
        }
        let message = try storedMessage(packet, log: log)
        let key = RoomKey(namespace: namespace, room: room)
        let selection = BroadcastSelection(rooms: [room], exceptSocket: exceptSocket)
        switch try await perform(.appendToRoom(key, message, maxMessages: configuration.roomMaxMessages), context: selection, log: log) {
        case .appended(let offset):
            return ReliableMarker.position(epoch: log.epoch, offset)
        case .enqueued, .queueFull, .applied:
            throw ReliableError(.storeFailed, detail: "the store answered an append with another outcome")
        }
    }

    /// The depth of the queue of `user`.
    func state(namespace: String, user: String) async throws -> UserQueueState {
        let log = try requireLog()
        do {
            return try await log.store.state(of: UserQueue(namespace: namespace, user: user))
        } catch let error as StoreError {
            throw ReliableError(.storeFailed, detail: error.description, storeError: error)
        }
    }

    private func storedMessage(_ packet: SocketPacket, log: ReliableLog) throws -> StoredMessage {
        let payload = packet.payload ?? ByteBuffer(string: "[]")
        let size = payload.readableBytes + packet.attachments.reduce(0) { $0 + $1.readableBytes }
        guard size <= configuration.maxMessageBytes else {
            throw ReliableError(.tooLarge, detail: "\(size) bytes; at most \(configuration.maxMessageBytes)")
        }
        return StoredMessage(
            payload: Array(payload.readableBytesView),
            attachments: packet.attachments.map { Array($0.readableBytesView) },
            timeMilliseconds: log.now
        )
    }

    private func perform(_ operation: ReliableOperation, context: (any Sendable)? = nil, log: ReliableLog) async throws -> ReliableOutcome {
        do {
            return try await log.perform(operation, context: context)
        } catch let error as StoreError {
            throw ReliableError(.storeFailed, detail: error.description, storeError: error)
        }
    }

    // MARK: After each commit, in order

    private func committed(_ batch: [ReliableLog.CommittedOperation]) {
        for entry in batch {
            switch (entry.operation, entry.outcome) {
            case (.enqueue(let queue, let message, _, _), .enqueued(let sequence, _, false)):
                let cursors = lanes.withLockedValue { $0[queue].map { Array($0.values) } ?? [] }
                let queued = QueuedMessage(sequence: sequence, message: message)
                for cursor in cursors { cursor.live(queued) }
            case (.appendToRoom(let room, let message, _), .appended(let offset)):
                guard let log, let namespace = core.withLockedValue({ $0.core })?.existingNamespace(named: room.namespace) else { continue }
                let packet = ReliableMarker.roomPacket(message, room: room.room, offset: ReliableMarker.position(epoch: log.epoch, offset), namespace: room.namespace)
                let selection = entry.context as? BroadcastSelection ?? BroadcastSelection(rooms: [room.room])
                namespace.adapter.broadcast(packet, to: selection, volatile: false)
            default:
                continue
            }
        }
    }

    // MARK: Sockets

    /// An identified socket is ready: its device is registered and its pending messages start
    /// going out.
    func socketReady(_ socket: Socket) {
        guard let log, let user = socket.user else { return }
        let queue = UserQueue(namespace: socket.namespace.name, user: user)
        let cursor = DeliveryCursor(socket: socket, queue: queue, log: log, runtime: self)
        let previous = lanes.withLockedValue { lanes -> DeliveryCursor? in
            let id = ObjectIdentifier(socket)
            // A socket identified again as another user leaves its former lane.
            var previous: DeliveryCursor?
            for (key, cursors) in lanes where cursors[id] != nil {
                previous = cursors[id]
                lanes[key]?[id] = nil
                if lanes[key]?.isEmpty == true { lanes[key] = nil }
            }
            lanes[queue, default: [:]][id] = cursor
            return previous
        }
        previous?.close()
        log.submit(.registerDevice(queue, device: socket.device))
        cursor.start()
    }

    /// A socket left its namespace: its cursor stops; its device is marked seen.
    func socketLeft(_ socket: Socket) {
        let id = ObjectIdentifier(socket)
        let cursor = lanes.withLockedValue { lanes -> DeliveryCursor? in
            guard let user = socket.user else { return nil }
            let queue = UserQueue(namespace: socket.namespace.name, user: user)
            guard let cursor = lanes[queue]?.removeValue(forKey: id) else { return nil }
            if lanes[queue]?.isEmpty == true { lanes[queue] = nil }
            return cursor
        }
        guard let cursor else { return }
        cursor.close()
        log?.submit(.registerDevice(cursor.queue, device: socket.device))
    }
}

/// The idempotency key whose handler is running in this task, so that the reliable emits it
/// makes are tied to it (`Protocol/reliable.md` § 5, crash window).
enum ReliableOrigin {
    @TaskLocal static var current: OriginCounter?
}

/// Names the reliable emits of one handler run: the key, then their index.
final class OriginCounter: Sendable {
    private let base: String
    private let count = NIOLockedValueBox(0)

    init(base: String) {
        self.base = base
    }

    func next() -> String {
        let index = count.withLockedValue { count in
            defer { count += 1 }
            return count
        }
        return "\(base)#\(index)"
    }
}
