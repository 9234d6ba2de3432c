/// What a Parley client keeps so that reliable delivery survives a restart of the app
/// (`Protocol/reliable.md` § 6): its device id, the outbox of emits not yet acknowledged, the
/// ids of the messages it already passed to the application, and its position in each room.
/// ``InMemoryClientReliableStore`` lives as long as the process; `ParleySQLite` keeps everything
/// in a file.
///
/// Semantics every implementation keeps (`Tests/ParleyStoreTests` runs the same suite against
/// each):
/// - The device id is created, at random, by the first ``open()`` of a new store and never
///   changes afterwards.
/// - ``addToOutbox(_:)`` returns once the item is kept (durably, for a file); items are listed
///   in the order of their ``ClientOutboxItem/sequence``, and the highest sequence ever added is
///   reported by ``open()`` even after its item was removed, so that keys built from sequences
///   never repeat.
/// - ``recordReceived(_:namespace:keeping:)`` keeps, per namespace, the newest `keeping` ids.
///
/// A store has one user at a time (one `SocketManager` of `ParleyClient`): two users of one
/// store would hand out the same sequences.
public protocol ClientReliableStore: Sendable {
    /// Opens the store, creating it (and the device id) if needed. Opening an open store
    /// returns the same state again.
    ///
    /// - Throws: ``StoreError`` when the store cannot be used.
    func open() async throws -> ClientReliableStoreState

    /// Keeps `item` at the end of the outbox of its namespace, durably, before returning. An
    /// item whose key is already in the outbox is ignored.
    ///
    /// - Throws: ``StoreError``; the item is not kept then.
    func addToOutbox(_ item: ClientOutboxItem) async throws

    /// Removes the outbox item with `key`, if there is one.
    func removeFromOutbox(key: String) async throws

    /// The outbox items of `namespace`, by sequence.
    func outbox(namespace: String) async throws -> [ClientOutboxItem]

    /// Records that the message `id` of `namespace` was received, keeping the newest `keeping`
    /// ids of the namespace.
    ///
    /// - Returns: whether the id was new (not among the ids kept).
    func recordReceived(_ id: String, namespace: String, keeping: Int) async throws -> Bool

    /// Whether the message `id` of `namespace` is among the ids kept.
    func hasReceived(_ id: String, namespace: String) async throws -> Bool

    /// The offset remembered for `room` of `namespace`, if any.
    func roomPosition(namespace: String, room: String) async throws -> String?

    /// Remembers `offset` for `room` of `namespace`, replacing what was there.
    func setRoomPosition(_ offset: String, namespace: String, room: String) async throws

    /// Releases the store's resources (a file's lock included); it can be opened again.
    func close() async throws
}

/// What ``ClientReliableStore/open()`` finds in a store.
public struct ClientReliableStoreState: Sendable, Hashable {
    /// The device id, created with the store: 16 characters of `[0-9a-z]`.
    public var deviceID: String
    /// The highest outbox sequence ever added (0 for none); the next item takes a higher one.
    public var lastOutboxSequence: UInt64

    /// Creates a state.
    public init(deviceID: String, lastOutboxSequence: UInt64) {
        self.deviceID = deviceID
        self.lastOutboxSequence = lastOutboxSequence
    }

    /// A new random device id: 16 characters of `[0-9a-z]` (about 82 bits).
    public static func makeDeviceID() -> String {
        let digits = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)
        var generator = SystemRandomNumberGenerator()
        return String(decoding: (0..<16).map { _ in digits[Int(generator.next(upperBound: UInt8(36)))] }, as: UTF8.self)
    }
}

/// One emit of a client's outbox, kept exactly as it is sent so that every retry sends the same
/// bytes (`Protocol/reliable.md` § 5).
public struct ClientOutboxItem: Sendable, Hashable {
    /// Orders the items: increases with each emit and is never reused by one store.
    public var sequence: UInt64
    /// The idempotency key carried in the marker, `<device id>.<sequence>`.
    public var key: String
    /// The namespace the emit goes to.
    public var namespace: String
    /// The event as a JSON array, marker included: `["name",arg,…,{"parley":{"key":"…"}}]`,
    /// with placeholders for attachments.
    public var payload: [UInt8]
    /// The binary attachments the placeholders refer to, in order.
    public var attachments: [[UInt8]]
    /// When the application emitted it, in milliseconds since 1970.
    public var timeMilliseconds: Int64

    /// Creates an item.
    public init(sequence: UInt64, key: String, namespace: String, payload: [UInt8], attachments: [[UInt8]] = [], timeMilliseconds: Int64) {
        self.sequence = sequence
        self.key = key
        self.namespace = namespace
        self.payload = payload
        self.attachments = attachments
        self.timeMilliseconds = timeMilliseconds
    }
}
