import Foundation

/// Locates the elements of a JSON array and the members of a JSON object in bytes, without
/// decoding them, so that one argument (a marker, a history message's event) can be taken out
/// or looked at while every other byte stays as it arrived.
///
/// The input is expected to be well-formed (the packet decoder validated it); anything this
/// cannot follow gives `nil` rather than a guess.
enum JSONSlices {
    /// The ranges of the elements of the array held in `bytes[range]`; `nil` when it is not an array.
    static func elements(ofArray bytes: [UInt8], in range: Range<Int>? = nil) -> [Range<Int>]? {
        let range = range ?? bytes.indices
        var index = skipWhitespace(bytes, from: range.lowerBound, to: range.upperBound)
        guard index < range.upperBound, bytes[index] == UInt8(ascii: "[") else { return nil }
        index = skipWhitespace(bytes, from: index + 1, to: range.upperBound)
        if index < range.upperBound, bytes[index] == UInt8(ascii: "]") { return [] }
        var elements: [Range<Int>] = []
        while true {
            guard let end = valueEnd(bytes, from: index, to: range.upperBound) else { return nil }
            elements.append(index..<end)
            index = skipWhitespace(bytes, from: end, to: range.upperBound)
            guard index < range.upperBound else { return nil }
            switch bytes[index] {
            case UInt8(ascii: ","): index = skipWhitespace(bytes, from: index + 1, to: range.upperBound)
            case UInt8(ascii: "]"): return elements
            default: return nil
            }
        }
    }

    /// The members of the object held in `bytes[range]`, in order; `nil` when it is not an object.
    static func members(ofObject bytes: [UInt8], in range: Range<Int>? = nil) -> [(key: String, value: Range<Int>)]? {
        let range = range ?? bytes.indices
        var index = skipWhitespace(bytes, from: range.lowerBound, to: range.upperBound)
        guard index < range.upperBound, bytes[index] == UInt8(ascii: "{") else { return nil }
        index = skipWhitespace(bytes, from: index + 1, to: range.upperBound)
        if index < range.upperBound, bytes[index] == UInt8(ascii: "}") { return [] }
        var members: [(key: String, value: Range<Int>)] = []
        while true {
            guard index < range.upperBound, bytes[index] == UInt8(ascii: "\""),
                let keyEnd = stringEnd(bytes, from: index, to: range.upperBound),
                let key = string(bytes, in: index..<keyEnd)
            else { return nil }
            index = skipWhitespace(bytes, from: keyEnd, to: range.upperBound)
            guard index < range.upperBound, bytes[index] == UInt8(ascii: ":") else { return nil }
            index = skipWhitespace(bytes, from: index + 1, to: range.upperBound)
            guard let end = valueEnd(bytes, from: index, to: range.upperBound) else { return nil }
            members.append((key, index..<end))
            index = skipWhitespace(bytes, from: end, to: range.upperBound)
            guard index < range.upperBound else { return nil }
            switch bytes[index] {
            case UInt8(ascii: ","): index = skipWhitespace(bytes, from: index + 1, to: range.upperBound)
            case UInt8(ascii: "}"): return members
            default: return nil
            }
        }
    }

    /// The text of the JSON string token `bytes[range]` (quotes included).
    static func string(_ bytes: [UInt8], in range: Range<Int>) -> String? {
        guard range.count >= 2, bytes[range.lowerBound] == UInt8(ascii: "\"") else { return nil }
        let inner = bytes[(range.lowerBound + 1)..<(range.upperBound - 1)]
        if !inner.contains(UInt8(ascii: "\\")) { return String(decoding: inner, as: UTF8.self) }
        return try? JSONDecoder().decode(String.self, from: Data(bytes[range]))
    }

    private static func skipWhitespace(_ bytes: [UInt8], from start: Int, to end: Int) -> Int {
        var index = start
        while index < end, isWhitespace(bytes[index]) { index += 1 }
        return index
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    /// The end of the value starting at `start`.
    private static func valueEnd(_ bytes: [UInt8], from start: Int, to end: Int) -> Int? {
        guard start < end else { return nil }
        switch bytes[start] {
        case UInt8(ascii: "\""):
            return stringEnd(bytes, from: start, to: end)
        case UInt8(ascii: "["), UInt8(ascii: "{"):
            var depth = 0
            var index = start
            while index < end {
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    guard let after = stringEnd(bytes, from: index, to: end) else { return nil }
                    index = after
                    continue
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    depth += 1
                case UInt8(ascii: "]"), UInt8(ascii: "}"):
                    depth -= 1
                    if depth == 0 { return index + 1 }
                default:
                    break
                }
                index += 1
            }
            return nil
        default:
            var index = start
            while index < end, !isWhitespace(bytes[index]),
                bytes[index] != UInt8(ascii: ","), bytes[index] != UInt8(ascii: "]"), bytes[index] != UInt8(ascii: "}")
            {
                index += 1
            }
            return index > start ? index : nil
        }
    }

    /// The end of the string starting (at its opening quote) at `start`.
    private static func stringEnd(_ bytes: [UInt8], from start: Int, to end: Int) -> Int? {
        var index = start + 1
        while index < end {
            switch bytes[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""): return index + 1
            default: index += 1
            }
        }
        return nil
    }
}
