public import NIOCore

/// One Socket.IO v5 packet: kind, namespace, optional ack id, raw JSON payload and, for the
/// binary kinds, the attachments that follow it.
///
/// The payload stays as the JSON bytes received (usually a slice of the engine message, not a
/// copy) so that a server can route an event by its name (``eventName``) without decoding the
/// arguments. The packet layer never replaces binary placeholders; the layer that materialises
/// arguments does (`Protocol/socket.md` §5.2).
///
/// ```swift
/// let packet = SocketPacket(type: .event, namespace: "/chat", ackID: 7,
///                           payload: ByteBuffer(string: #"["message","hi"]"#))
/// let (text, attachments) = SocketPacketEncoder.encode(packet)  // 2/chat,7["message","hi"]
/// ```
public struct SocketPacket: Sendable, Hashable {
    /// The kind of packet.
    public var type: SocketPacketType
    /// The namespace, always starting with `/`; `/` is the default namespace.
    public var namespace: String
    /// The acknowledgement id, at most ``maxAckID``; `nil` when the packet has none.
    public var ackID: UInt64?
    /// The JSON payload exactly as it travels (object, array or, for compatibility, a
    /// string); `nil` when the packet has none.
    public var payload: ByteBuffer?
    /// The binary attachments of a `binaryEvent` or `binaryAck`, in placeholder order.
    public var attachments: [ByteBuffer]

    /// The largest ack id Parley reads or writes: 2^53 − 1, the largest integer a JavaScript
    /// peer represents exactly (`Protocol/socket.md` §4).
    public static let maxAckID: UInt64 = (1 << 53) - 1

    /// The name of the default namespace.
    public static let defaultNamespace = "/"

    /// Creates a packet.
    ///
    /// - Parameters:
    ///   - type: The kind of packet.
    ///   - namespace: The namespace, starting with `/`. Defaults to the default namespace.
    ///   - ackID: The acknowledgement id, if any.
    ///   - payload: The raw JSON payload bytes, if any.
    ///   - attachments: Binary attachments; binary kinds need at least one, other kinds none.
    public init(
        type: SocketPacketType,
        namespace: String = SocketPacket.defaultNamespace,
        ackID: UInt64? = nil,
        payload: ByteBuffer? = nil,
        attachments: [ByteBuffer] = []
    ) {
        self.type = type
        self.namespace = namespace
        self.ackID = ackID
        self.payload = payload
        self.attachments = attachments
    }
}
