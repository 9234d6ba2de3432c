/// Where reliable delivery keeps what must survive a restart: per-user queues and the position
/// of each device in them, room histories, and the idempotency keys of client emits
/// (`Protocol/reliable.md`). ``InMemoryReliableStore`` lives as long as the process;
/// `ParleySQLite` keeps everything in a file.
///
/// The server never calls a store from an event loop. Writes reach it in batches from one
/// writer (``ReliableLog``); reads come from the tasks that deliver pending messages and answer
/// history requests.
///
/// Semantics every implementation keeps (`Tests/ParleyStoreTests` runs the same suite against
/// each):
/// - ``commit(_:now:)`` applies a batch in one transaction, or none of it; the operations are
///   applied in order and each gets its own ``ReliableOutcome`` (a refused operation does not
///   fail the others).
/// - Message sequences increase across the whole store and are never reused, even after the
///   messages holding them were removed and the store reopened. Room offsets increase per room
///   from 1 and are never reused either.
/// - A message leaves its queue when every known device of its user has acknowledged it, or
///   when retention removes it. A device becomes known with ``ReliableOperation/registerDevice``
///   (at position 0: it receives everything still queued) and is forgotten by retention.
public protocol ReliableStore: Sendable {
    /// Opens the store, creating it if needed.
    ///
    /// - Returns: the store's epoch, which changes only when the store is created anew, so
    ///   that ids and offsets of a previous store are recognised as foreign.
    /// - Throws: ``StoreError`` when the store cannot be used.
    func open(now: Int64) async throws -> String

    /// Applies the operations of `batch` in order, in one transaction.
    ///
    /// - Returns: one outcome per operation, in the same order.
    /// - Throws: ``StoreError`` when the transaction failed; nothing of the batch is kept then
    ///   (``StoreError/Code/full`` when the disk or the database's size limit is reached).
    func commit(_ batch: [ReliableOperation], now: Int64) async throws -> [ReliableOutcome]

    /// The messages of `queue` after `sequence`, oldest first, at most `limit`.
    func messages(in queue: UserQueue, after sequence: UInt64, limit: Int) async throws -> [QueuedMessage]

    /// The position of `device` in `queue` (the highest sequence it acknowledged in order);
    /// `nil` when the device is not known.
    func position(of device: String, in queue: UserQueue) async throws -> UInt64?

    /// The depth of `queue` and its oldest message.
    func state(of queue: UserQueue) async throws -> UserQueueState

    /// The messages of `room` after `offset` (from the oldest kept when `nil`), oldest first,
    /// at most `limit`; or the newest `limit` when `newest` is true and `offset` is `nil`.
    func history(of room: RoomKey, after offset: UInt64?, limit: Int, newest: Bool) async throws -> HistoryPage

    /// The record of the idempotency `key` in `scope`, if the store still has it.
    func idempotencyRecord(_ scope: IdempotencyScope, key: String) async throws -> IdempotencyRecord?

    /// Removes what retention no longer keeps, in this order: devices not seen since the cut
    /// (then the messages every remaining device of their queue acknowledged: delivered, not
    /// dropped), queued messages by age (counted as dropped), room messages by age, keys and
    /// origins by age.
    func trim(_ retention: ReliableRetention, now: Int64) async throws -> ReliableTrimResult

    /// Releases the store's resources; the store is not used afterwards.
    func close() async throws
}

/// A user's queue: messages for one user of one namespace.
public struct UserQueue: Sendable, Hashable, CustomStringConvertible {
    /// The namespace, e.g. `/` or `/chat`.
    public var namespace: String
    /// The user id the application gave the user's sockets.
    public var user: String

    /// Creates a queue key.
    public init(namespace: String, user: String) {
        self.namespace = namespace
        self.user = user
    }

    public var description: String { "\(namespace) user \(user)" }
}

/// A room of one namespace.
public struct RoomKey: Sendable, Hashable, CustomStringConvertible {
    /// The namespace.
    public var namespace: String
    /// The room's name.
    public var room: String

    /// Creates a room key.
    public init(namespace: String, room: String) {
        self.namespace = namespace
        self.room = room
    }

    public var description: String { "\(namespace) room \(room)" }
}

/// The sender an idempotency key belongs to: one device of one user of one namespace (either
/// may be empty when the client did not name it).
public struct IdempotencyScope: Sendable, Hashable {
    /// The namespace.
    public var namespace: String
    /// The user id, empty for a socket without one.
    public var user: String
    /// The device id, empty for a client that did not name one.
    public var device: String

    /// Creates a scope.
    public init(namespace: String, user: String, device: String) {
        self.namespace = namespace
        self.user = user
        self.device = device
    }
}

/// How many messages a user's queue holds and what happens past it.
public struct QueueBounds: Sendable, Hashable {
    /// What to do with a message that would take a queue past its bounds.
    public enum Overflow: Sendable, Hashable {
        /// Refuse the new message: its sender sees the error.
        case refuse
        /// Remove the oldest messages until the new one fits, and count them.
        case dropOldest
    }

    /// The most messages a queue holds.
    public var maxMessages: Int
    /// The most bytes (``StoredMessage/byteCount``) a queue holds.
    public var maxBytes: Int
    /// The policy past the bounds.
    public var overflow: Overflow

    /// Creates bounds.
    public init(maxMessages: Int = 10_000, maxBytes: Int = 16 << 20, overflow: Overflow = .refuse) {
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
        self.overflow = overflow
    }
}

/// A message as a store keeps it: the event's payload, ready to be sent again.
public struct StoredMessage: Sendable, Hashable {
    /// The event as a JSON array, `["name", arg, ...]`, with placeholders for attachments.
    public var payload: [UInt8]
    /// The binary attachments the placeholders refer to, in order.
    public var attachments: [[UInt8]]
    /// When the message was accepted, in milliseconds since 1970.
    public var timeMilliseconds: Int64

    /// Creates a message.
    public init(payload: [UInt8], attachments: [[UInt8]] = [], timeMilliseconds: Int64) {
        self.payload = payload
        self.attachments = attachments
        self.timeMilliseconds = timeMilliseconds
    }

    /// The bytes the message counts for in a queue's bounds.
    public var byteCount: Int { payload.count + attachments.reduce(0) { $0 + $1.count } }
}

/// A message of a user's queue.
public struct QueuedMessage: Sendable, Hashable {
    /// Its sequence: increases across the store, so it orders the messages of a queue.
    public var sequence: UInt64
    /// The message.
    public var message: StoredMessage

    /// Creates a queued message.
    public init(sequence: UInt64, message: StoredMessage) {
        self.sequence = sequence
        self.message = message
    }
}

/// A message of a room's history.
public struct HistoryMessage: Sendable, Hashable {
    /// Its offset in the room: 1 for the room's first message, then one more for each.
    public var offset: UInt64
    /// The message.
    public var message: StoredMessage

    /// Creates a history message.
    public init(offset: UInt64, message: StoredMessage) {
        self.offset = offset
        self.message = message
    }
}

/// One page of a room's history.
public struct HistoryPage: Sendable, Hashable {
    /// The messages, oldest first.
    public var messages: [HistoryMessage]
    /// The offset of the room's newest message (0 when it has none).
    public var latest: UInt64
    /// The offset of the oldest message still kept (`latest + 1` when none is).
    public var oldestKept: UInt64
    /// Messages after the position were removed by retention: the page starts at the oldest
    /// kept instead, and the reader has missed some.
    public var truncated: Bool

    /// Creates a page.
    public init(messages: [HistoryMessage], latest: UInt64, oldestKept: UInt64, truncated: Bool) {
        self.messages = messages
        self.latest = latest
        self.oldestKept = oldestKept
        self.truncated = truncated
    }
}

/// The depth of a user's queue.
public struct UserQueueState: Sendable, Hashable {
    /// Messages queued.
    public var messages: Int
    /// Their bytes.
    public var bytes: Int
    /// The oldest message's sequence, when there is one.
    public var oldestSequence: UInt64?
    /// When the oldest message was accepted (milliseconds since 1970), when there is one.
    public var oldestTimeMilliseconds: Int64?
    /// Messages removed by ``QueueBounds/Overflow/dropOldest`` or by age, over the queue's life.
    public var dropped: Int
    /// Devices known for the user.
    public var devices: Int

    /// Creates a state.
    public init(messages: Int = 0, bytes: Int = 0, oldestSequence: UInt64? = nil, oldestTimeMilliseconds: Int64? = nil, dropped: Int = 0, devices: Int = 0) {
        self.messages = messages
        self.bytes = bytes
        self.oldestSequence = oldestSequence
        self.oldestTimeMilliseconds = oldestTimeMilliseconds
        self.dropped = dropped
        self.devices = devices
    }
}

/// What a client emit with an idempotency key was answered with, kept so that a retry gets the
/// same answer without the handler running again.
public struct IdempotencyRecord: Sendable, Hashable {
    /// The sender.
    public var scope: IdempotencyScope
    /// The key the client chose.
    public var key: String
    /// A digest of the event (name and arguments): a retry with another payload is refused.
    public var digest: UInt64
    /// The acknowledgement's arguments as a JSON array, with placeholders for attachments.
    public var response: [UInt8]
    /// The acknowledgement's attachments.
    public var responseAttachments: [[UInt8]]
    /// When the answer was recorded, in milliseconds since 1970.
    public var timeMilliseconds: Int64

    /// Creates a record.
    public init(scope: IdempotencyScope, key: String, digest: UInt64, response: [UInt8], responseAttachments: [[UInt8]] = [], timeMilliseconds: Int64) {
        self.scope = scope
        self.key = key
        self.digest = digest
        self.response = response
        self.responseAttachments = responseAttachments
        self.timeMilliseconds = timeMilliseconds
    }
}

/// One write of a ``ReliableStore`` batch.
public enum ReliableOperation: Sendable, Hashable {
    /// Appends a message to a user's queue within `bounds`. With an `origin` (the idempotency
    /// key of the client emit whose handler sends it, plus its index), a second enqueue of the
    /// same origin adds nothing and answers the first one's sequence.
    case enqueue(UserQueue, StoredMessage, bounds: QueueBounds, origin: String?)
    /// Appends a message to a room's history; past `maxMessages` the oldest are removed.
    case appendToRoom(RoomKey, StoredMessage, maxMessages: Int)
    /// Moves a device's position forward to `sequence` (never backwards), then removes the
    /// messages every known device has acknowledged. The device is marked seen now; a device
    /// the store does not know (forgotten by retention while connected) becomes known at
    /// `sequence`.
    case acknowledge(UserQueue, device: String, through: UInt64)
    /// Makes a device known (at position 0) or marks it seen now.
    case registerDevice(UserQueue, device: String)
    /// Keeps the answer to an idempotency key (replacing none: the first record of a key wins).
    case remember(IdempotencyRecord)
}

/// What one operation of a batch did.
public enum ReliableOutcome: Sendable, Hashable {
    /// The message is queued with this sequence; `dropped` older ones were removed to make room.
    /// `duplicate` when its origin was already queued: nothing was added.
    case enqueued(sequence: UInt64, dropped: Int, duplicate: Bool)
    /// The message is in the room's history at this offset.
    case appended(offset: UInt64)
    /// The operation was refused: the queue is full.
    case queueFull(UserQueueState)
    /// The operation was applied (acknowledge, registerDevice, remember).
    case applied
}

/// What retention removes in one pass; times in milliseconds since 1970.
public struct ReliableRetention: Sendable, Hashable {
    /// Queued messages accepted before this go (counted as dropped), oldest sequence first
    /// across all queues, as far as the first one accepted at or after it: sequences follow
    /// acceptance, so a clock that went back only delays a removal.
    public var messagesBefore: Int64
    /// Devices last seen (registered, or acknowledging) before this are forgotten.
    public var devicesSeenBefore: Int64
    /// Room messages before this go, oldest first: a room's oldest message kept keeps the
    /// ones after it, however old, so that a history never has holes.
    public var roomMessagesBefore: Int64
    /// Idempotency records and origins before this go.
    public var keysBefore: Int64

    /// Creates a cut.
    public init(messagesBefore: Int64, devicesSeenBefore: Int64, roomMessagesBefore: Int64, keysBefore: Int64) {
        self.messagesBefore = messagesBefore
        self.devicesSeenBefore = devicesSeenBefore
        self.roomMessagesBefore = roomMessagesBefore
        self.keysBefore = keysBefore
    }
}

/// What one retention pass removed.
public struct ReliableTrimResult: Sendable, Hashable {
    /// Queued messages: by age, and those acknowledged by every device that remained.
    public var messages: Int
    /// Devices.
    public var devices: Int
    /// Room messages.
    public var roomMessages: Int
    /// Idempotency records and origins.
    public var keys: Int

    /// Creates a result.
    public init(messages: Int = 0, devices: Int = 0, roomMessages: Int = 0, keys: Int = 0) {
        self.messages = messages
        self.devices = devices
        self.roomMessages = roomMessages
        self.keys = keys
    }
}
