import NIOCore
import NIOWebSocket

/// Server-to-client WebSocket frame headers (RFC 6455 § 5.2): final, unmasked, no extension.
enum WebSocketFrameHeader {
    /// The longest header: 2 bytes + a 64-bit length.
    static let maxLength = 10

    /// The header's length for a payload of `length` bytes.
    static func length(forPayload length: Int) -> Int {
        switch length {
        case ..<126: 2
        case ...Int(UInt16.max): 4
        default: 10
        }
    }

    /// Appends the header of a frame carrying `length` payload bytes.
    static func write(opcode: WebSocketOpcode, length: Int, into buffer: inout ByteBuffer) {
        let start = buffer.writerIndex
        buffer.moveWriterIndex(forwardBy: Self.length(forPayload: length))
        set(opcode: opcode, length: length, at: start, in: &buffer)
    }

    /// Writes the header at `index`, which must have room for ``length(forPayload:)`` bytes.
    static func set(opcode: WebSocketOpcode, length: Int, at index: Int, in buffer: inout ByteBuffer) {
        buffer.setInteger(0x80 | UInt8(webSocketOpcode: opcode), at: index)
        switch length {
        case ..<126:
            buffer.setInteger(UInt8(length), at: index + 1)
        case ...Int(UInt16.max):
            buffer.setInteger(UInt8(126), at: index + 1)
            buffer.setInteger(UInt16(length), at: index + 2)
        default:
            buffer.setInteger(UInt8(127), at: index + 1)
            buffer.setInteger(UInt64(length), at: index + 2)
        }
    }

    /// Appends a whole frame: header, then `payload`.
    static func writeFrame(opcode: WebSocketOpcode, payload: ByteBuffer, into buffer: inout ByteBuffer) {
        buffer.reserveCapacity(minimumWritableBytes: maxLength + payload.readableBytes)
        write(opcode: opcode, length: payload.readableBytes, into: &buffer)
        buffer.writeImmutableBuffer(payload)
    }
}
