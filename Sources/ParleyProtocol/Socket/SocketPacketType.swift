/// The kind of a Socket.IO v5 packet, written on the wire as one ASCII digit.
///
/// See `Protocol/socket.md` §2 for what each kind carries.
public enum SocketPacketType: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Opens a namespace (client → server, optional auth object) or accepts it
    /// (server → client, `{"sid": ...}`).
    case connect = 0
    /// Leaves a namespace; carries no payload.
    case disconnect = 1
    /// An event: a non-empty array whose first element is the event name.
    case event = 2
    /// The answer to an event that asked for one; an array plus the ack id it answers.
    case ack = 3
    /// A namespace refusal: an object `{"message": ..., "data"?: ...}`.
    case connectError = 4
    /// An event whose arguments reference binary attachments sent after it.
    case binaryEvent = 5
    /// An ack whose arguments reference binary attachments sent after it.
    case binaryAck = 6

    /// Whether this kind carries an attachment count and is followed by binary attachments.
    @inlinable
    public var isBinary: Bool {
        self == .binaryEvent || self == .binaryAck
    }

    /// Whether this kind carries an event name and arguments (`event` or `binaryEvent`).
    @inlinable
    public var isEvent: Bool {
        self == .event || self == .binaryEvent
    }

    /// Whether this kind answers an earlier event (`ack` or `binaryAck`) and needs an ack id.
    @inlinable
    public var isAck: Bool {
        self == .ack || self == .binaryAck
    }

    /// The ASCII digit that encodes this kind on the wire.
    var asciiDigit: UInt8 {
        UInt8(ascii: "0") &+ rawValue
    }

    /// The protocol's upper-case name for this kind, such as `BINARY_EVENT`.
    public var description: String {
        switch self {
        case .connect: "CONNECT"
        case .disconnect: "DISCONNECT"
        case .event: "EVENT"
        case .ack: "ACK"
        case .connectError: "CONNECT_ERROR"
        case .binaryEvent: "BINARY_EVENT"
        case .binaryAck: "BINARY_ACK"
        }
    }
}
