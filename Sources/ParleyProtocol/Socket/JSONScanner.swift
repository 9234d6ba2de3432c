public import NIOCore

/// A validating scanner for one JSON value (RFC 8259) held in bytes, which allocates nothing.
///
/// The Socket.IO layer keeps payloads as bytes and only needs three facts about them: that
/// they are well-formed, the kind of the top-level value, and (for events) where the first
/// array element is, so that the event name can be read without decoding the arguments.
/// The rules it enforces are in `Protocol/socket.md` §5.1: strict RFC 8259 grammar, UTF-8
/// inside strings, whitespace allowed around the value, nesting at most ``maximumDepth``.
///
/// ```swift
/// let summary = try JSONScanner.scan(ByteBuffer(string: #"["chat",{"text":"hi"}]"#))
/// summary.value.kind          // .array
/// summary.firstElement?.range // 1..<7, the bytes of "chat" including its quotes
/// ```
public enum JSONScanner {
    /// The deepest nesting of arrays and objects accepted; deeper input is rejected as
    /// invalid so that hostile payloads cannot cost unbounded work or stack.
    public static let maximumDepth = 512

    /// The kind of a JSON value.
    public enum Kind: UInt8, Sendable, Hashable {
        /// `{...}`
        case object
        /// `[...]`
        case array
        /// `"..."`
        case string
        /// A number such as `-1.5e3`.
        case number
        /// `true` or `false`.
        case boolean
        /// `null`.
        case null
    }

    /// One JSON value located in the scanned bytes.
    public struct Value: Sendable, Hashable {
        /// The kind of the value.
        public var kind: Kind
        /// The offsets of the value's bytes (quotes and brackets included, surrounding
        /// whitespace excluded), relative to the start of the scanned bytes.
        public var range: Range<Int>

        /// Creates a located value.
        public init(kind: Kind, range: Range<Int>) {
            self.kind = kind
            self.range = range
        }
    }

    /// What a full scan learned about a well-formed value.
    public struct Summary: Sendable, Hashable {
        /// The top-level value.
        public var value: Value
        /// The first element when the top-level value is a non-empty array, else `nil`.
        public var firstElement: Value?
        /// The last element when the top-level value is a non-empty array, else `nil` (also
        /// `nil` when the scan stopped after the first element).
        public var lastElement: Value?
    }

    /// Checks that `bytes` hold exactly one well-formed JSON value, optionally surrounded by
    /// whitespace, and describes it.
    ///
    /// - Throws: ``SocketProtocolError/Code/invalidJSON`` with the offending offset.
    public static func scan(_ bytes: UnsafeRawBufferPointer) throws(SocketProtocolError) -> Summary {
        var cursor = Cursor(bytes: bytes, stopsAfterFirstElement: false)
        return try cursor.run()
    }

    /// Checks that the readable bytes of `buffer` hold exactly one well-formed JSON value;
    /// ranges in the result are relative to the buffer's reader index.
    ///
    /// - Throws: ``SocketProtocolError/Code/invalidJSON`` with the offending offset.
    public static func scan(_ buffer: ByteBuffer) throws(SocketProtocolError) -> Summary {
        try buffer.withUnsafeReadableBytes { (bytes) throws(SocketProtocolError) -> Summary in
            try scan(bytes)
        }
    }

    /// Locates the first element of the array held in `bytes`, validating only up to the end
    /// of that element; whatever follows it is not looked at.
    ///
    /// - Returns: The first element, or `nil` when the value is not an array or is empty.
    /// - Throws: ``SocketProtocolError/Code/invalidJSON`` if the bytes up to the end of the
    ///   first element are not well-formed.
    public static func firstElement(ofArray bytes: UnsafeRawBufferPointer) throws(SocketProtocolError) -> Value? {
        var cursor = Cursor(bytes: bytes, stopsAfterFirstElement: true)
        cursor.skipWhitespace()
        guard cursor.peek == UInt8(ascii: "[") else { return nil }
        return try cursor.run().firstElement
    }
}

extension JSONScanner {
    /// The iterative scanner behind ``JSONScanner``; an explicit container stack instead of
    /// recursion keeps deep input off the call stack.
    struct Cursor {
        let bytes: UnsafeRawBufferPointer
        let stopsAfterFirstElement: Bool
        var index = 0
        var depth = 0
        var containers = ContainerStack()

        init(bytes: UnsafeRawBufferPointer, stopsAfterFirstElement: Bool) {
            self.bytes = bytes
            self.stopsAfterFirstElement = stopsAfterFirstElement
        }

        /// The byte at the cursor, or 0 (never valid where a byte is looked at) at the end.
        var peek: UInt8 { index < bytes.count ? bytes[index] : 0 }

        mutating func run() throws(SocketProtocolError) -> Summary {
            var expectsValue = true
            var topStart = 0
            var topIsArray = false
            var firstStart = 0
            var first: Value?
            var lastStart = 0
            var last: Value?
            while true {
                let completed: Kind
                skipWhitespace()
                guard index < bytes.count else { throw failure("unexpected end of input") }
                let byte = bytes[index]
                if expectsValue {
                    if depth == 0 {
                        topStart = index
                        topIsArray = byte == UInt8(ascii: "[")
                    } else if depth == 1, topIsArray {
                        lastStart = index
                        if first == nil { firstStart = index }
                    }
                    switch byte {
                    case UInt8(ascii: "{"):
                        try open(isObject: true)
                        if peek == UInt8(ascii: "}") {
                            index += 1
                            depth -= 1
                            completed = .object
                        } else {
                            try scanKey()
                            continue
                        }
                    case UInt8(ascii: "["):
                        try open(isObject: false)
                        guard peek == UInt8(ascii: "]") else { continue }
                        index += 1
                        depth -= 1
                        completed = .array
                    case UInt8(ascii: "\""):
                        try scanString()
                        completed = .string
                    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                        try scanNumber()
                        completed = .number
                    case UInt8(ascii: "t"):
                        try scanLiteral("true")
                        completed = .boolean
                    case UInt8(ascii: "f"):
                        try scanLiteral("false")
                        completed = .boolean
                    case UInt8(ascii: "n"):
                        try scanLiteral("null")
                        completed = .null
                    default:
                        throw unexpectedByte()
                    }
                } else {
                    let inObject = containers.isObject(at: depth - 1)
                    if byte == UInt8(ascii: ",") {
                        index += 1
                        if inObject {
                            skipWhitespace()
                            try scanKey()
                        }
                        expectsValue = true
                        continue
                    }
                    guard byte == (inObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) else { throw unexpectedByte() }
                    index += 1
                    depth -= 1
                    completed = inObject ? .object : .array
                }
                // A whole value (scalar or container) ends at `index`.
                if depth == 0 {
                    let top = Value(kind: completed, range: topStart..<index)
                    skipWhitespace()
                    guard index == bytes.count else { throw unexpectedByte() }
                    return Summary(value: top, firstElement: first, lastElement: last)
                }
                if depth == 1, topIsArray { last = Value(kind: completed, range: lastStart..<index) }
                if depth == 1, topIsArray, first == nil {
                    first = Value(kind: completed, range: firstStart..<index)
                    if stopsAfterFirstElement {
                        return Summary(value: Value(kind: .array, range: topStart..<bytes.count), firstElement: first, lastElement: nil)
                    }
                }
                expectsValue = false
            }
        }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                    index += 1
                default:
                    return
                }
            }
        }

        /// Consumes `{` or `[` and the whitespace after it, entering a container.
        private mutating func open(isObject: Bool) throws(SocketProtocolError) {
            guard depth < JSONScanner.maximumDepth else {
                throw failure("nesting deeper than \(JSONScanner.maximumDepth) levels")
            }
            containers.set(isObject: isObject, at: depth)
            depth += 1
            index += 1
            skipWhitespace()
        }

        /// Consumes an object key, the colon and the whitespace around it.
        private mutating func scanKey() throws(SocketProtocolError) {
            guard peek == UInt8(ascii: "\"") else { throw unexpectedByte() }
            try scanString()
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw unexpectedByte() }
            index += 1
        }

        private mutating func scanLiteral(_ literal: StaticString) throws(SocketProtocolError) {
            let count = literal.utf8CodeUnitCount
            guard bytes.count - index >= count else { throw failure("unexpected end of input") }
            for offset in 0..<count where bytes[index + offset] != literal.utf8Start[offset] {
                index += offset
                throw unexpectedByte()
            }
            index += count
        }

        private mutating func scanNumber() throws(SocketProtocolError) {
            if peek == UInt8(ascii: "-") { index += 1 }
            switch peek {
            case UInt8(ascii: "0"):
                index += 1
            case UInt8(ascii: "1")...UInt8(ascii: "9"):
                skipDigits()
            default:
                throw peek == 0 ? failure("unexpected end of input") : unexpectedByte()
            }
            if peek == UInt8(ascii: ".") {
                index += 1
                try scanRequiredDigits()
            }
            if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
                index += 1
                if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
                try scanRequiredDigits()
            }
        }

        private mutating func scanRequiredDigits() throws(SocketProtocolError) {
            guard UInt8(ascii: "0")...UInt8(ascii: "9") ~= peek else {
                throw peek == 0 ? failure("unexpected end of input") : unexpectedByte()
            }
            skipDigits()
        }

        private mutating func skipDigits() {
            while index < bytes.count, UInt8(ascii: "0")...UInt8(ascii: "9") ~= bytes[index] { index += 1 }
        }

        func failure(_ reason: String) -> SocketProtocolError {
            SocketProtocolError(.invalidJSON, "\(reason) at byte \(index)")
        }

        func unexpectedByte() -> SocketProtocolError {
            guard index < bytes.count else { return failure("unexpected end of input") }
            let byte = bytes[index]
            let shown = (0x20..<0x7F).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
            return failure("unexpected \(shown)")
        }
    }

    /// One bit per nesting level (set for an object), held inline so that scanning never
    /// allocates; sized for ``JSONScanner/maximumDepth`` levels.
    struct ContainerStack {
        private var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)

        mutating func set(isObject: Bool, at level: Int) {
            withUnsafeMutableBytes(of: &words) { raw in
                let mask = UInt8(1) << UInt8(level & 7)
                if isObject { raw[level >> 3] |= mask } else { raw[level >> 3] &= ~mask }
            }
        }

        func isObject(at level: Int) -> Bool {
            withUnsafeBytes(of: words) { raw in
                raw[level >> 3] & (UInt8(1) << UInt8(level & 7)) != 0
            }
        }
    }
}
