public import NIOCore

/// Writes Socket.IO v5 packets in their text form (`Protocol/socket.md` §3).
///
/// The encoder trusts its input: the payload is written as is, without validation, because
/// packets built by the upper layers are valid by construction and a broadcast is encoded
/// once for every recipient. Breaking the rules below is a programmer error and traps.
///
/// - The namespace starts with `/` (and holds no comma).
/// - An ack id is at most ``SocketPacket/maxAckID``.
/// - A binary kind has at least one attachment and the other kinds have none; the count is
///   written from `packet.attachments.count`, and the attachments travel as the next engine
///   binary messages, in order.
///
/// ```swift
/// var buffer = ByteBuffer()
/// SocketPacketEncoder.encode(SocketPacket(type: .ack, namespace: "/admin", ackID: 13,
///                                         payload: ByteBuffer(string: #"["bar"]"#)), into: &buffer)
/// // buffer holds 3/admin,13["bar"]
/// ```
public enum SocketPacketEncoder {
    /// Appends the text form of `packet` to `buffer`; attachments are not written.
    ///
    /// - Parameters:
    ///   - packet: The packet to encode.
    ///   - buffer: The buffer to append to.
    public static func encode(_ packet: SocketPacket, into buffer: inout ByteBuffer) {
        precondition(packet.namespace.utf8.first == UInt8(ascii: "/"), "a namespace starts with '/'")
        precondition(packet.type.isBinary != packet.attachments.isEmpty, "binary packets, and only they, carry attachments")
        buffer.reserveCapacity(minimumWritableBytes: textLength(of: packet))
        buffer.writeInteger(packet.type.asciiDigit)
        if packet.type.isBinary {
            writeDecimal(UInt64(packet.attachments.count), into: &buffer)
            buffer.writeInteger(UInt8(ascii: "-"))
        }
        if packet.namespace != SocketPacket.defaultNamespace {
            buffer.writeString(packet.namespace)
            buffer.writeInteger(UInt8(ascii: ","))
        }
        if let ackID = packet.ackID {
            precondition(ackID <= SocketPacket.maxAckID, "ack id above 2^53 - 1")
            writeDecimal(ackID, into: &buffer)
        }
        if let payload = packet.payload {
            buffer.writeImmutableBuffer(payload)
        }
    }

    /// Encodes `packet` into a new text buffer and returns it with the attachments to send
    /// after it.
    ///
    /// - Parameters:
    ///   - packet: The packet to encode.
    ///   - allocator: The allocator for the text buffer.
    /// - Returns: The text of the packet and its attachments, in sending order.
    public static func encode(
        _ packet: SocketPacket,
        allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) -> (text: ByteBuffer, attachments: [ByteBuffer]) {
        var text = allocator.buffer(capacity: textLength(of: packet))
        encode(packet, into: &text)
        return (text, packet.attachments)
    }

    /// An upper bound of the text form's length, used to allocate once.
    public static func textLength(of packet: SocketPacket) -> Int {
        // type digit + count and dash (≤ 20 + 1) + namespace and comma + ack id (≤ 16).
        1 + (packet.type.isBinary ? 21 : 0) + packet.namespace.utf8.count + 1 + 16
            + (packet.payload?.readableBytes ?? 0)
    }

    /// Writes `value` in decimal ASCII without building a `String`.
    static func writeDecimal(_ value: UInt64, into buffer: inout ByteBuffer) {
        var digitCount = 1
        var rest = value / 10
        while rest > 0 {
            digitCount += 1
            rest /= 10
        }
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: digitCount) { raw in
            var remaining = value
            for position in stride(from: digitCount - 1, through: 0, by: -1) {
                raw[position] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: remaining % 10)
                remaining /= 10
            }
            return digitCount
        }
    }
}
