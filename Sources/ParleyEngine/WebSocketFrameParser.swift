import NIOCore
import NIOWebSocket
import ParleyProtocol

/// Reads the frames a client sends on a WebSocket (RFC 6455 § 5), reassembles fragmented
/// messages and enforces the rules a server must: every frame masked, no reserved bits (no
/// extension is negotiated), known opcodes, short unfragmented control frames, and no message
/// above the size limit.
///
/// It keeps no buffer between reads unless a frame is cut in two, so an idle connection costs
/// nothing here. Payloads come out unmasked in buffers of their own.
struct WebSocketFrameParser {
    /// One complete message or control frame.
    enum Frame: Equatable {
        case text(ByteBuffer)
        case binary(ByteBuffer)
        case ping(ByteBuffer)
        case pong(ByteBuffer)
        case close(ByteBuffer)
    }

    /// Why the connection must be closed.
    enum Failure: Error, Equatable {
        /// A rule of RFC 6455 was broken (close code 1002).
        case protocolError(String)
        /// A message is larger than the limit (close code 1009).
        case tooLarge
    }

    let maxMessageSize: Int
    /// Bytes received but not yet parsed: the start of a frame cut by the transport.
    private var pending: ByteBuffer?
    /// The message being assembled from fragments: its opcode and the payload so far.
    private var fragments: (opcode: WebSocketOpcode, payload: ByteBuffer)?

    init(maxMessageSize: Int) {
        self.maxMessageSize = maxMessageSize
    }

    /// Parses `bytes` and hands every complete frame to `body`, in order.
    mutating func parse(_ bytes: ByteBuffer, _ body: (Frame) throws -> Void) throws {
        var input: ByteBuffer
        let owned: Bool
        if var pending {
            self.pending = nil
            pending.writeImmutableBuffer(bytes)
            input = pending
            owned = true
        } else {
            input = bytes
            owned = false
        }
        while let frame = try next(&input) {
            try body(frame)
        }
        guard input.readableBytes > 0 else { return }
        if owned {
            // Already a buffer of our own: keep appending to it, so that a frame arriving in
            // many small reads costs linear time, not a copy of everything so far per read.
            if input.readerIndex > input.readableBytes { input.discardReadBytes() }
            pending = input
        } else {
            // Keep the cut frame in a buffer of its own, not a slice of the receive buffer.
            var rest = ByteBuffer()
            rest.reserveCapacity(max(input.readableBytes, 64))
            rest.writeBuffer(&input)
            pending = rest
        }
    }

    /// The next complete frame at the start of `input`, consuming it; `nil` when `input`
    /// holds only part of one.
    private mutating func next(_ input: inout ByteBuffer) throws -> Frame? {
        while true {
            guard let header = try readHeader(input) else { return nil }
            guard input.readableBytes >= header.length + Int(header.payloadLength) else { return nil }
            input.moveReaderIndex(forwardBy: header.length)
            let payload = Self.unmasked(input.readSlice(length: Int(header.payloadLength))!, key: header.maskKey)
            if let frame = try assemble(header, payload) { return frame }
        }
    }

    private struct Header {
        var fin: Bool
        var opcode: WebSocketOpcode
        var maskKey: (UInt8, UInt8, UInt8, UInt8)
        var payloadLength: UInt64
        /// The header's own length in bytes.
        var length: Int
    }

    private func readHeader(_ input: ByteBuffer) throws -> Header? {
        guard input.readableBytes >= 2 else { return nil }
        let start = input.readerIndex
        let first = input.getInteger(at: start, as: UInt8.self)!
        let second = input.getInteger(at: start + 1, as: UInt8.self)!
        guard first & 0x70 == 0 else { throw Failure.protocolError("reserved bits set") }
        guard let opcode = WebSocketOpcode(encodedWebSocketOpcode: first & 0x0F), Self.isKnown(opcode) else {
            throw Failure.protocolError("unknown opcode \(first & 0x0F)")
        }
        guard second & 0x80 != 0 else { throw Failure.protocolError("unmasked client frame") }
        let fin = first & 0x80 != 0
        var length = 2
        var payloadLength = UInt64(second & 0x7F)
        switch payloadLength {
        case 126:
            guard let value = input.getInteger(at: start + 2, as: UInt16.self) else { return nil }
            payloadLength = UInt64(value)
            length += 2
        case 127:
            guard let value = input.getInteger(at: start + 2, as: UInt64.self) else { return nil }
            guard value & (1 << 63) == 0 else { throw Failure.protocolError("64-bit length with its top bit set") }
            payloadLength = value
            length += 8
        default:
            break
        }
        if opcode.isControlOpcode {
            guard fin else { throw Failure.protocolError("fragmented control frame") }
            guard payloadLength <= 125 else { throw Failure.protocolError("control frame above 125 bytes") }
        } else {
            let sofar = UInt64(fragments?.payload.readableBytes ?? 0)
            guard payloadLength + sofar <= UInt64(maxMessageSize) else { throw Failure.tooLarge }
        }
        guard let key = input.getBytes(at: start + length, length: 4) else { return nil }
        length += 4
        return Header(fin: fin, opcode: opcode, maskKey: (key[0], key[1], key[2], key[3]), payloadLength: payloadLength, length: length)
    }

    /// Turns a data or control frame into a message, or adds it to the one being assembled.
    private mutating func assemble(_ header: Header, _ payload: ByteBuffer) throws -> Frame? {
        switch header.opcode {
        case .ping: return .ping(payload)
        case .pong: return .pong(payload)
        case .connectionClose:
            try Self.checkClose(payload)
            return .close(payload)
        case .continuation:
            guard var message = fragments else { throw Failure.protocolError("continuation without a message") }
            fragments = nil
            message.payload.writeImmutableBuffer(payload)
            guard header.fin else {
                fragments = message
                return nil
            }
            return message.opcode == .text ? .text(message.payload) : .binary(message.payload)
        default:
            guard fragments == nil else { throw Failure.protocolError("new message inside a fragmented one") }
            guard header.fin else {
                fragments = (header.opcode, payload)
                return nil
            }
            return header.opcode == .text ? .text(payload) : .binary(payload)
        }
    }

    /// A close body is empty, or a code an endpoint may send (RFC 6455 § 7.4) and a UTF-8 reason.
    private static func checkClose(_ payload: ByteBuffer) throws {
        guard payload.readableBytes > 0 else { return }
        guard payload.readableBytes >= 2, let code = payload.getInteger(at: payload.readerIndex, as: UInt16.self) else {
            throw Failure.protocolError("close frame with a 1-byte body")
        }
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: break
        default: throw Failure.protocolError("close code \(code) may not be sent")
        }
        guard UTF8Validation.isValid(payload.getSlice(at: payload.readerIndex + 2, length: payload.readableBytes - 2)!.readableBytesView) else {
            throw Failure.protocolError("close reason is not UTF-8")
        }
    }

    private static func isKnown(_ opcode: WebSocketOpcode) -> Bool {
        switch opcode {
        case .continuation, .text, .binary, .connectionClose, .ping, .pong: true
        default: false
        }
    }

    /// A copy of `payload` with the client's mask removed (RFC 6455 § 5.3).
    static func unmasked(_ payload: ByteBuffer, key: (UInt8, UInt8, UInt8, UInt8)) -> ByteBuffer {
        var output = ByteBuffer()
        let count = payload.readableBytes
        guard count > 0 else { return output }
        output.reserveCapacity(count)
        let mask = withUnsafeBytes(of: key) { $0.load(as: UInt32.self) }
        let wide = UInt64(mask) | UInt64(mask) << 32
        _ = payload.withUnsafeReadableBytes { source in
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { target in
                var index = 0
                while index + 8 <= count {
                    let word = source.loadUnaligned(fromByteOffset: index, as: UInt64.self) ^ wide
                    target.storeBytes(of: word, toByteOffset: index, as: UInt64.self)
                    index += 8
                }
                while index < count {
                    let keyByte = withUnsafeBytes(of: key) { $0[index & 3] }
                    target[index] = source[index] ^ keyByte
                    index += 1
                }
                return count
            }
        }
        return output
    }
}
