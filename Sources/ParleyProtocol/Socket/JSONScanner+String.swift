public import NIOCore

extension JSONScanner {
    /// Decodes a JSON string token (quotes included), resolving escapes.
    ///
    /// A `\uXXXX` escape of a lone UTF-16 surrogate becomes U+FFFD, the replacement
    /// character (`Protocol/socket.md` §5.1).
    ///
    /// - Parameter token: The bytes of one string token, such as a ``Value/range`` of kind
    ///   ``Kind/string``.
    /// - Returns: The string, or `nil` when `token` is not one well-formed JSON string.
    public static func decodeString(_ token: UnsafeRawBufferPointer) -> String? {
        let quote = UInt8(ascii: "\"")
        let backslash = UInt8(ascii: "\\")
        guard token.count >= 2, token[0] == quote, token[token.count - 1] == quote else { return nil }
        let content = UnsafeRawBufferPointer(rebasing: token[1..<(token.count - 1)])
        var firstEscape: Int?
        for (offset, byte) in content.enumerated() {
            if byte == backslash {
                firstEscape = offset
                break
            }
            if byte == quote || byte < 0x20 { return nil }
        }
        guard let firstEscape else { return String(validating: content, as: UTF8.self) }

        var utf8: [UInt8] = []
        utf8.reserveCapacity(content.count)
        utf8.append(contentsOf: content[..<firstEscape])
        var index = firstEscape
        while index < content.count {
            let byte = content[index]
            guard byte == backslash else {
                if byte == quote || byte < 0x20 { return nil }
                utf8.append(byte)
                index += 1
                continue
            }
            guard index + 1 < content.count else { return nil }
            let simple: UInt8
            switch content[index + 1] {
            case UInt8(ascii: "\""): simple = quote
            case UInt8(ascii: "\\"): simple = backslash
            case UInt8(ascii: "/"): simple = UInt8(ascii: "/")
            case UInt8(ascii: "b"): simple = 0x08
            case UInt8(ascii: "f"): simple = 0x0C
            case UInt8(ascii: "n"): simple = 0x0A
            case UInt8(ascii: "r"): simple = 0x0D
            case UInt8(ascii: "t"): simple = 0x09
            case UInt8(ascii: "u"):
                guard let unit = hexQuad(content, at: index + 2) else { return nil }
                index += 6
                var scalar = Unicode.Scalar(UInt32(unit)) ?? "\u{FFFD}"
                if (0xD800...0xDBFF).contains(unit),
                   index + 1 < content.count, content[index] == backslash, content[index + 1] == UInt8(ascii: "u"),
                   let low = hexQuad(content, at: index + 2), (0xDC00...0xDFFF).contains(low)
                {
                    let combined = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                    scalar = Unicode.Scalar(combined) ?? "\u{FFFD}"
                    index += 6
                }
                UTF8.encode(scalar) { utf8.append($0) }
                continue
            default:
                return nil
            }
            utf8.append(simple)
            index += 2
        }
        return String(validating: utf8, as: UTF8.self)
    }

    /// Decodes the JSON string token held in the readable bytes of `token`.
    ///
    /// - Returns: The string, or `nil` when the bytes are not one well-formed JSON string.
    public static func decodeString(_ token: ByteBuffer) -> String? {
        token.withUnsafeReadableBytes { decodeString($0) }
    }

    /// The value of four hex digits at `offset`, or `nil`.
    static func hexQuad(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt16? {
        guard offset >= 0, offset + 4 <= bytes.count else { return nil }
        var value: UInt16 = 0
        for byte in bytes[offset..<(offset + 4)] {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt16(digit)
        }
        return value
    }
}

extension JSONScanner.Cursor {
    /// Consumes a string token starting at the opening quote: escapes must be well-formed,
    /// control characters must be escaped, and raw bytes must be UTF-8.
    mutating func scanString() throws(SocketProtocolError) {
        index += 1
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return
            case UInt8(ascii: "\\"):
                try scanEscape()
            case 0..<0x20:
                throw failure("unescaped control character in string")
            case 0x20..<0x80:
                index += 1
            default:
                try scanUTF8Sequence()
            }
        }
        throw failure("unterminated string")
    }

    private mutating func scanEscape() throws(SocketProtocolError) {
        index += 1
        guard index < bytes.count else { throw failure("unterminated string") }
        switch bytes[index] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"),
             UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            index += 1
        case UInt8(ascii: "u"):
            guard JSONScanner.hexQuad(bytes, at: index + 1) != nil else { throw failure("invalid \\u escape") }
            index += 5
        default:
            throw failure("invalid escape")
        }
    }

    /// Consumes one multi-byte UTF-8 sequence (RFC 3629: no overlongs, no surrogates,
    /// nothing above U+10FFFF).
    private mutating func scanUTF8Sequence() throws(SocketProtocolError) {
        guard let length = UTF8Validation.sequenceLength(bytes, at: index) else { throw failure("invalid UTF-8") }
        index += length
    }
}
