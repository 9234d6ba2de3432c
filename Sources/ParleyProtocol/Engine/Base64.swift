public import NIOCore

/// Standard (RFC 4648 §4) padded base64, as the polling payload uses for binary packets.
///
/// Written against bytes so that neither direction builds a `String` or `Data`.
public enum Base64 {
    @usableFromInline
    static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    @usableFromInline
    static let reverse: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    /// Appends the padded base64 encoding of `bytes` to `buffer`.
    public static func encode(_ bytes: ByteBufferView, into buffer: inout ByteBuffer) {
        let count = bytes.count
        buffer.reserveCapacity(minimumWritableBytes: (count + 2) / 3 * 4)
        var index = bytes.startIndex
        let end = bytes.endIndex
        while end - index >= 3 {
            let b0 = bytes[index], b1 = bytes[index + 1], b2 = bytes[index + 2]
            buffer.writeMultipleIntegers(
                alphabet[Int(b0 >> 2)],
                alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)],
                alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)],
                alphabet[Int(b2 & 0x3F)]
            )
            index += 3
        }
        switch end - index {
        case 1:
            let b0 = bytes[index]
            buffer.writeMultipleIntegers(alphabet[Int(b0 >> 2)], alphabet[Int((b0 & 0x03) << 4)], UInt8(ascii: "="), UInt8(ascii: "="))
        case 2:
            let b0 = bytes[index], b1 = bytes[index + 1]
            buffer.writeMultipleIntegers(
                alphabet[Int(b0 >> 2)],
                alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)],
                alphabet[Int((b1 & 0x0F) << 2)],
                UInt8(ascii: "=")
            )
        default:
            break
        }
    }

    /// Decodes padded base64; `nil` when the input is not canonical padded base64.
    public static func decode(_ text: ByteBufferView, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer? {
        let count = text.count
        guard count % 4 == 0 else { return nil }
        var output = allocator.buffer(capacity: count / 4 * 3)
        var index = text.startIndex
        while index < text.endIndex {
            let c0 = reverse[Int(text[index])], c1 = reverse[Int(text[index + 1])]
            let p2 = text[index + 2], p3 = text[index + 3]
            let isLast = index + 4 == text.endIndex
            guard c0 != 0xFF, c1 != 0xFF else { return nil }
            if p2 == UInt8(ascii: "=") {
                guard isLast, p3 == UInt8(ascii: "="), c1 & 0x0F == 0 else { return nil }
                output.writeInteger(c0 << 2 | c1 >> 4)
            } else if p3 == UInt8(ascii: "=") {
                let c2 = reverse[Int(p2)]
                guard isLast, c2 != 0xFF, c2 & 0x03 == 0 else { return nil }
                output.writeMultipleIntegers(c0 << 2 | c1 >> 4, (c1 & 0x0F) << 4 | c2 >> 2)
            } else {
                let c2 = reverse[Int(p2)], c3 = reverse[Int(p3)]
                guard c2 != 0xFF, c3 != 0xFF else { return nil }
                output.writeMultipleIntegers(c0 << 2 | c1 >> 4, (c1 & 0x0F) << 4 | c2 >> 2, (c2 & 0x03) << 6 | c3)
            }
            index += 4
        }
        return output
    }
}
