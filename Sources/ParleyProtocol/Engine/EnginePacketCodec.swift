public import NIOCore

/// Encodes and decodes single Engine.IO packets as WebSocket frames carry them.
///
/// A text frame is one type digit and an optional payload; a binary frame is a binary
/// `message` by itself. See `Protocol/engine.md` § Packet encoding.
public enum EnginePacketCodec {
    /// What one packet becomes on a WebSocket.
    public enum Frame: Sendable, Hashable {
        /// A text frame with these UTF-8 bytes.
        case text(ByteBuffer)
        /// A binary frame with these bytes.
        case binary(ByteBuffer)
    }

    /// Decodes the content of one text frame.
    ///
    /// The message payload is a slice of `text`; nothing is copied.
    /// - Throws: ``EngineProtocolError`` with `invalidUTF8`, `emptyPacket`, `unknownPacketType`,
    ///   `unexpectedPayload` or `invalidHandshake`.
    public static func decode(text: ByteBuffer) throws(EngineProtocolError) -> EnginePacket {
        guard UTF8Validation.isValid(text.readableBytesView) else {
            throw EngineProtocolError(.invalidUTF8, "text packet is not valid UTF-8")
        }
        var text = text
        guard let digit = text.readInteger(as: UInt8.self) else {
            throw EngineProtocolError(.emptyPacket, "empty packet")
        }
        switch digit {
        case UInt8(ascii: "0"):
            return .open(try EngineHandshake(json: text))
        case UInt8(ascii: "1"):
            try requireEmpty(text, "close")
            return .close
        case UInt8(ascii: "2"):
            return .ping(String(buffer: text))
        case UInt8(ascii: "3"):
            return .pong(String(buffer: text))
        case UInt8(ascii: "4"):
            return .message(.text(text))
        case UInt8(ascii: "5"):
            try requireEmpty(text, "upgrade")
            return .upgrade
        case UInt8(ascii: "6"):
            try requireEmpty(text, "noop")
            return .noop
        default:
            throw EngineProtocolError(.unknownPacketType, "unknown packet type byte 0x\(String(digit, radix: 16))")
        }
    }

    /// Decodes the content of one binary frame: always a binary message.
    public static func decode(binary: ByteBuffer) -> EnginePacket {
        .message(.binary(binary))
    }

    /// Encodes a packet as the frame a WebSocket carries.
    public static func encode(_ packet: EnginePacket, allocator: ByteBufferAllocator) -> Frame {
        if case .message(.binary(let bytes)) = packet { return .binary(bytes) }
        var buffer = allocator.buffer(capacity: packet.estimatedTextSize)
        writeText(packet, into: &buffer)
        return .text(buffer)
    }

    /// Writes the text form of a packet that is not a binary message.
    ///
    /// A binary message has no text form of its own; the polling codec writes it as `b` + base64.
    public static func writeText(_ packet: EnginePacket, into buffer: inout ByteBuffer) {
        buffer.writeInteger(packet.typeDigit)
        switch packet {
        case .open(let handshake):
            handshake.writeJSON(into: &buffer)
        case .ping(let payload), .pong(let payload):
            buffer.writeString(payload)
        case .message(.text(let text)):
            buffer.writeImmutableBuffer(text)
        case .message(.binary):
            preconditionFailure("a binary message has no text encoding")
        case .close, .upgrade, .noop:
            break
        }
    }

    private static func requireEmpty(_ rest: ByteBuffer, _ name: String) throws(EngineProtocolError) {
        guard rest.readableBytes == 0 else {
            throw EngineProtocolError(.unexpectedPayload, "\(name) packet carries \(rest.readableBytes) bytes")
        }
    }
}

extension EnginePacket {
    /// A capacity hint for the text encoding.
    var estimatedTextSize: Int {
        switch self {
        case .open: 128
        case .message(.text(let text)), .message(.binary(let text)): 1 + text.readableBytes
        case .ping(let payload), .pong(let payload): 1 + payload.utf8.count
        case .close, .upgrade, .noop: 1
        }
    }
}
