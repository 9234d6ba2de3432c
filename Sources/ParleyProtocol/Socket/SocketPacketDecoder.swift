public import NIOCore

/// Turns the engine messages of one session into Socket.IO v5 packets, reassembling binary
/// attachments (`Protocol/socket.md` §3–§6).
///
/// A sans-I/O state machine: feed it every text and binary message of the session in order;
/// it returns a packet once it is complete. A binary packet (`51-[...]`) returns `nil` and
/// waits for its attachments, which must be the very next messages. Any violation throws a
/// ``SocketProtocolError``; the decoder is then back to idle, and the caller should close
/// the session.
///
/// ```swift
/// var decoder = SocketPacketDecoder()
/// _ = try decoder.textReceived(ByteBuffer(string: #"51-["upload",{"_placeholder":true,"num":0}]"#))  // nil
/// let packet = try decoder.binaryReceived(blob)  // the BINARY_EVENT with one attachment
/// ```
public struct SocketPacketDecoder: Sendable {
    /// The largest attachment count a binary packet may announce; larger counts are a
    /// protocol error, so a peer cannot make the decoder buffer without bound.
    public let maxAttachments: Int

    private var state: State = .idle

    private enum State: Sendable {
        case idle
        case awaitingAttachments(SocketPacket, expected: Int)
    }

    /// Creates an idle decoder.
    ///
    /// - Parameter maxAttachments: The largest attachment count accepted; 10 by default,
    ///   like the reference implementation.
    public init(maxAttachments: Int = 10) {
        precondition(maxAttachments >= 0, "maxAttachments must not be negative")
        self.maxAttachments = maxAttachments
    }

    /// Whether a binary packet is waiting for more attachments.
    public var isAwaitingAttachments: Bool {
        if case .awaitingAttachments = state { return true }
        return false
    }

    /// Handles one engine text message.
    ///
    /// - Returns: The decoded packet, or `nil` when it is a binary packet that waits for
    ///   attachments.
    /// - Throws: ``SocketProtocolError/Code/unexpectedText`` while attachments are expected,
    ///   or any error of ``decode(_:maxAttachments:)``.
    public mutating func textReceived(_ text: ByteBuffer) throws(SocketProtocolError) -> SocketPacket? {
        if case .awaitingAttachments(let packet, let expected) = state {
            state = .idle
            throw SocketProtocolError(
                .unexpectedText,
                "text message while \(packet.type) awaits attachment \(packet.attachments.count + 1) of \(expected)"
            )
        }
        var (packet, count) = try Self.decode(text, maxAttachments: maxAttachments)
        guard count > 0 else { return packet }
        packet.attachments.reserveCapacity(count)
        state = .awaitingAttachments(packet, expected: count)
        return nil
    }

    /// Handles one engine binary message: the next attachment of the pending binary packet.
    ///
    /// - Returns: The packet once its last attachment arrived, else `nil`.
    /// - Throws: ``SocketProtocolError/Code/unexpectedBinary`` when no attachment is expected.
    public mutating func binaryReceived(_ bytes: ByteBuffer) throws(SocketProtocolError) -> SocketPacket? {
        guard case .awaitingAttachments(var packet, let expected) = state else {
            throw SocketProtocolError(.unexpectedBinary, "binary message of \(bytes.readableBytes) bytes while no attachment is expected")
        }
        // Leave the state before appending so the attachments array is uniquely referenced.
        state = .idle
        packet.attachments.append(bytes)
        guard packet.attachments.count == expected else {
            state = .awaitingAttachments(packet, expected: expected)
            return nil
        }
        return packet
    }

    /// Decodes and validates one text packet without tracking attachments.
    ///
    /// The payload in the result is a slice of `text` (no copy); `attachments` is empty.
    ///
    /// - Parameters:
    ///   - text: The bytes of one engine text message.
    ///   - maxAttachments: The largest attachment count accepted.
    /// - Returns: The packet and the number of attachments announced for it (0 for the
    ///   non-binary kinds).
    /// - Throws: ``SocketProtocolError`` with the first violation found, in wire order.
    public static func decode(
        _ text: ByteBuffer,
        maxAttachments: Int = 10
    ) throws(SocketProtocolError) -> (packet: SocketPacket, attachmentCount: Int) {
        let header = try text.withUnsafeReadableBytes { (bytes) throws(SocketProtocolError) -> Header in
            try Header(parsing: bytes, maxAttachments: maxAttachments)
        }
        let payloadLength = text.readableBytes - header.payloadOffset
        let payload = payloadLength > 0 ? text.getSlice(at: text.readerIndex + header.payloadOffset, length: payloadLength) : nil
        let packet = SocketPacket(
            type: header.type,
            namespace: header.namespace,
            ackID: header.ackID,
            payload: payload
        )
        return (packet, header.attachmentCount)
    }
}
