public import NIOCore

/// One packet of a namespace's recovery log: what was sent, to whom, and when.
///
/// The packet is kept exactly as it went out (its offset included), so a replay writes the
/// same bytes again. The audience is kept as the broadcast's filter, not as a list of sockets:
/// a socket's own room is named by its id, so an emit to one socket is `rooms: [id]`.
public struct LogEntry: Sendable, Hashable {
    /// The entry's position in the log; increases with every entry of the store, across
    /// namespaces and restarts.
    public var sequence: UInt64
    /// The namespace the packet belongs to.
    public var namespace: String
    /// The rooms the packet went to; empty means every socket of the namespace.
    public var rooms: [String]
    /// The rooms whose sockets were left out.
    public var exceptRooms: [String]
    /// The socket packet's text (without the engine's packet type).
    public var packet: ByteBuffer
    /// The binary attachments that follow the packet, in order.
    public var attachments: [ByteBuffer]
    /// When the packet was sent, in milliseconds since 1970.
    public var timeMilliseconds: Int64

    /// Creates an entry.
    public init(
        sequence: UInt64,
        namespace: String,
        rooms: [String],
        exceptRooms: [String],
        packet: ByteBuffer,
        attachments: [ByteBuffer] = [],
        timeMilliseconds: Int64
    ) {
        self.sequence = sequence
        self.namespace = namespace
        self.rooms = rooms
        self.exceptRooms = exceptRooms
        self.packet = packet
        self.attachments = attachments
        self.timeMilliseconds = timeMilliseconds
    }

    /// Whether a socket in `socketRooms` (its own room included) was among the recipients.
    public func isAddressed(to socketRooms: Set<String>) -> Bool {
        if !rooms.isEmpty, !rooms.contains(where: socketRooms.contains) { return false }
        return !exceptRooms.contains(where: socketRooms.contains)
    }

    /// The bytes the entry takes in a store, roughly (for size-based retention).
    public var byteCount: Int {
        packet.readableBytes + attachments.reduce(0) { $0 + $1.readableBytes } + namespace.utf8.count
            + rooms.reduce(0) { $0 + $1.utf8.count } + exceptRooms.reduce(0) { $0 + $1.utf8.count } + 32
    }
}
