import NIOCore

extension ByteBuffer {
    /// Writes `value` in plain decimal without building a String.
    mutating func writeDecimal(_ value: UInt64) {
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        let start = writerIndex
        writeRepeatingByte(UInt8(ascii: "0"), count: digits)
        var remaining = value
        for offset in stride(from: digits - 1, through: 0, by: -1) {
            setInteger(UInt8(ascii: "0") + UInt8(remaining % 10), at: start + offset)
            remaining /= 10
        }
    }

    /// Reads a run of decimal digits; `nil` (nothing consumed) if the next byte is not a digit.
    mutating func readDecimal() -> UInt64? {
        var value: UInt64 = 0
        var index = readerIndex
        let end = writerIndex
        while index < end, let byte = getInteger(at: index, as: UInt8.self), byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
            value = value &* 10 &+ UInt64(byte - UInt8(ascii: "0"))
            index += 1
        }
        guard index > readerIndex else { return nil }
        moveReaderIndex(to: index)
        return value
    }

    /// The offset (from the reader index) of the first occurrence of `pattern` in the readable
    /// bytes. A plain loop: the generic `firstRange(of:)` costs more than a whole frame decode.
    func readableOffset(of pattern: [UInt8]) -> Int? {
        withUnsafeReadableBytes { bytes in
            guard let first = pattern.first, pattern.count <= bytes.count else { return nil }
            var index = 0
            let last = bytes.count - pattern.count
            while index <= last {
                if bytes[index] == first {
                    var matched = 1
                    while matched < pattern.count, bytes[index + matched] == pattern[matched] { matched += 1 }
                    if matched == pattern.count { return index }
                }
                index += 1
            }
            return nil
        }
    }

    /// The first byte, if any, without consuming it.
    var firstByte: UInt8? { getInteger(at: readerIndex, as: UInt8.self) }
}
