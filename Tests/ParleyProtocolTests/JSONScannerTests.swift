import NIOCore
import ParleyProtocol
import Testing

@Suite("JSON scanner")
struct JSONScannerTests {
    static let wellFormed: [(String, JSONScanner.Kind)] = [
        ("{}", .object), ("[]", .array), (#""""#, .string), ("0", .number), ("-0", .number),
        ("1e5", .number), ("1E+5", .number), ("-0.0e-0", .number), ("0.5", .number),
        ("123456789012345678901234567890", .number), ("true", .boolean), ("false", .boolean),
        ("null", .null), (#"{"a" : 1 , "b":[ ] ,"c":{"d":null}}"#, .object),
        (#"[1,"two",[3],{"four":4},true,false,null]"#, .array),
        (#""esc \" \\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00""#, .string),
        (#""lone \ud800 surrogate""#, .string), ("\"caf\u{E9} \u{1F99C} \u{4E16}\"", .string),
        (" \t\r\n[1] \n", .array), (#"{"":""}"#, .object),
    ]

    static let malformed: [String] = [
        "", " ", "01", "-", "1.", ".5", "+1", "1e", "1e+", "--1", "0x1", "NaN", "Infinity", "-Infinity",
        "tru", "nul", "True", "nulll", "[1,]", "[,1]", "[1 2]", "{1:2}", #"{"a"}"#, #"{"a":1,}"#,
        #"{"a":1"#, "[", "]", "{", #""abc"#, #""\x""#, #""\u12""#, #""\u12G4""#, "\"a\u{01}\"",
        "\"tab\there\"", "'x'", "[1]]", "{}{}", "1 2", "\u{0B}1", "\u{A0}1", "[1]x", "nullx", "/*c*/1",
    ]

    @Test func acceptsWellFormedValuesAndReportsTheirKind() throws {
        for (text, kind) in Self.wellFormed {
            let summary = try JSONScanner.scan(ByteBuffer(string: text))
            #expect(summary.value.kind == kind, "\(text)")
        }
    }

    @Test func rejectsMalformedValuesAsInvalidJSON() {
        for text in Self.malformed {
            #expect(throws: SocketProtocolError.self, "\(text)") {
                try JSONScanner.scan(ByteBuffer(string: text))
            }
            do {
                _ = try JSONScanner.scan(ByteBuffer(string: text))
            } catch {
                #expect(error.code == .invalidJSON, "\(text)")
            }
        }
    }

    @Test func rejectsInvalidUTF8InsideStrings() {
        let sequences: [[UInt8]] = [
            [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF0, 0x80, 0x80, 0x80],
            [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0x80], [0xC3], [0xE2, 0x82], [0xFF],
        ]
        for sequence in sequences {
            let bytes = [UInt8(ascii: "\"")] + sequence + [UInt8(ascii: "\"")]
            #expect(throws: SocketProtocolError.self, "\(sequence)") {
                try JSONScanner.scan(ByteBuffer(bytes: bytes))
            }
        }
        let valid: [UInt8] = [0x22, 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0xA6, 0x9C, 0xF4, 0x8F, 0xBF, 0xBF, 0x22]
        #expect(throws: Never.self) { try JSONScanner.scan(ByteBuffer(bytes: valid)) }
    }

    @Test func reportsRangesWithoutSurroundingWhitespace() throws {
        let text = #"  [ "chat" , {"text":"hi"} ]  "#
        let summary = try JSONScanner.scan(ByteBuffer(string: text))
        let utf8 = Array(text.utf8)
        #expect(String(decoding: utf8[summary.value.range], as: UTF8.self) == #"[ "chat" , {"text":"hi"} ]"#)
        let first = try #require(summary.firstElement)
        #expect(first.kind == .string)
        #expect(String(decoding: utf8[first.range], as: UTF8.self) == #""chat""#)
    }

    @Test func reportsContainersAndScalarsAsFirstElements() throws {
        let cases: [(String, JSONScanner.Kind, String)] = [
            (#"[{"a":[1]},2]"#, .object, #"{"a":[1]}"#), ("[[],1]", .array, "[]"), ("[-1.5e3]", .number, "-1.5e3"),
            ("[null]", .null, "null"), ("[ true ]", .boolean, "true"), (#"[[["deep"]],"x"]"#, .array, #"[["deep"]]"#),
        ]
        for (text, kind, element) in cases {
            let summary = try JSONScanner.scan(ByteBuffer(string: text))
            let first = try #require(summary.firstElement, "\(text)")
            #expect(first.kind == kind, "\(text)")
            #expect(String(decoding: Array(text.utf8)[first.range], as: UTF8.self) == element, "\(text)")
        }
        #expect(try JSONScanner.scan(ByteBuffer(string: "[]")).firstElement == nil)
        #expect(try JSONScanner.scan(ByteBuffer(string: #"{"a":1}"#)).firstElement == nil)
        #expect(try JSONScanner.scan(ByteBuffer(string: #""[1]""#)).firstElement == nil)
    }

    @Test func firstElementScanIgnoresWhatFollowsTheFirstElement() throws {
        let lazy = Array(#"["name", this is never looked at"#.utf8)
        let first = try lazy.withUnsafeBytes { try JSONScanner.firstElement(ofArray: $0) }
        #expect(first == JSONScanner.Value(kind: .string, range: 1..<7))
        #expect(try Array("[]".utf8).withUnsafeBytes { try JSONScanner.firstElement(ofArray: $0) } == nil)
        #expect(try Array(#"{"a":1}"#.utf8).withUnsafeBytes { try JSONScanner.firstElement(ofArray: $0) } == nil)
        #expect(throws: SocketProtocolError.self) {
            try Array(#"["unterminated"#.utf8).withUnsafeBytes { try JSONScanner.firstElement(ofArray: $0) }
        }
    }

    @Test func acceptsNestingUpToTheLimitAndRejectsDeeper() throws {
        let limit = JSONScanner.maximumDepth
        let deepest = String(repeating: "[", count: limit) + String(repeating: "]", count: limit)
        #expect(try JSONScanner.scan(ByteBuffer(string: deepest)).value.kind == .array)
        let objects = String(repeating: #"{"a":"#, count: limit) + "1" + String(repeating: "}", count: limit)
        #expect(try JSONScanner.scan(ByteBuffer(string: objects)).value.kind == .object)
        let tooDeep = String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1)
        #expect(throws: SocketProtocolError.self) { try JSONScanner.scan(ByteBuffer(string: tooDeep)) }
        let hostile = String(repeating: "[", count: 1_000_000)
        #expect(throws: SocketProtocolError.self) { try JSONScanner.scan(ByteBuffer(string: hostile)) }
    }

    @Test func tracksArraysAndObjectsAtEveryDepth() throws {
        // Alternate containers past 64 levels so every word of the container stack is used.
        var text = ""
        for level in 0..<300 { text += level.isMultiple(of: 2) ? "[" : #"{"k":"# }
        text += "1"
        for level in (0..<300).reversed() { text += level.isMultiple(of: 2) ? "]" : "}" }
        #expect(try JSONScanner.scan(ByteBuffer(string: text)).value.kind == .array)
        let mismatched = "[" + String(repeating: #"{"k":["#, count: 100) + String(repeating: "]}", count: 99) + "}}]"
        #expect(throws: SocketProtocolError.self) { try JSONScanner.scan(ByteBuffer(string: mismatched)) }
    }

    @Test func decodesStringTokensResolvingEscapes() {
        let cases: [(String, String?)] = [
            (#""plain""#, "plain"), (#""""#, ""), (#""a\"b\\c\/d""#, "a\"b\\c/d"), (#""\"""#, "\""), (#""x\"y"z""#, nil),
            (#""\b\f\n\r\t""#, "\u{08}\u{0C}\n\r\t"), (#""caf\u00E9""#, "café"),
            (#""\uD83D\uDE00""#, "😀"), (#""\ud800x""#, "\u{FFFD}x"), (#""\udc00""#, "\u{FFFD}"),
            (#""\ud800\u0041""#, "\u{FFFD}A"), ("\"\u{1F99C}\"", "\u{1F99C}"),
            (#""\x""#, nil), (#""\u12""#, nil), ("\"open", nil), (#""a"b""#, nil), ("\"a\u{01}\"", nil), ("x", nil),
        ]
        for (token, expected) in cases {
            #expect(JSONScanner.decodeString(ByteBuffer(string: token)) == expected, "\(token)")
        }
    }
}
