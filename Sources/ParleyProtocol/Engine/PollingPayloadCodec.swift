public import NIOCore

/// Encodes and decodes HTTP long-polling bodies: packets joined by the record separator 0x1E,
/// binary messages written as `b` + padded base64. See `Protocol/engine.md` § Polling payloads.
public enum PollingPayloadCodec {
    /// The record separator between packets.
    public static let separator: UInt8 = 0x1E

    /// Decodes every packet of a body.
    ///
    /// Text message payloads are slices of `body`; binary ones are freshly decoded.
    /// - Throws: ``EngineProtocolError`` — any empty segment (including an empty body or a
    ///   trailing separator) is `emptyPacket`; a bad `b` segment is `invalidBase64`; otherwise
    ///   what ``EnginePacketCodec/decode(text:)`` throws.
    public static func decode(_ body: ByteBuffer) throws(EngineProtocolError) -> [EnginePacket] {
        var packets: [EnginePacket] = []
        var rest = body
        while true {
            let segmentLength = rest.readableBytesView.firstIndex(of: separator).map { $0 - rest.readerIndex }
            let segment = rest.readSlice(length: segmentLength ?? rest.readableBytes)!
            packets.append(try decodeSegment(segment))
            guard segmentLength != nil else { return packets }
            rest.moveReaderIndex(forwardBy: 1)
        }
    }

    /// Appends the body for `packets` to `buffer`.
    public static func encode(_ packets: some Sequence<EnginePacket>, into buffer: inout ByteBuffer) {
        var first = true
        for packet in packets {
            if !first { buffer.writeInteger(separator) }
            first = false
            if case .message(.binary(let bytes)) = packet {
                buffer.writeInteger(UInt8(ascii: "b"))
                Base64.encode(bytes.readableBytesView, into: &buffer)
            } else {
                EnginePacketCodec.writeText(packet, into: &buffer)
            }
        }
    }

    private static func decodeSegment(_ segment: ByteBuffer) throws(EngineProtocolError) -> EnginePacket {
        guard segment.readableBytesView.first == UInt8(ascii: "b") else {
            return try EnginePacketCodec.decode(text: segment)
        }
        guard let bytes = Base64.decode(segment.readableBytesView.dropFirst()) else {
            throw EngineProtocolError(.invalidBase64, "binary packet is not padded base64")
        }
        return .message(.binary(bytes))
    }
}
