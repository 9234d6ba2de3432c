import Foundation
import NIOCore
import ParleyProtocol
import Testing

/// Checks the strict padded base64 of polling binary packets (`Protocol/engine.md` §4).
@Suite("Base64")
struct Base64Tests {
    @Test(arguments: 0...64)
    func roundTripsRandomBytesOfEveryLengthLikeFoundation(length: Int) throws {
        var random = SeededRandomGenerator(seed: UInt64(length) &* 0x9E37_79B9_7F4A_7C15)
        for _ in 0..<16 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            let reference = Data(bytes).base64EncodedString()

            var encoded = ByteBuffer()
            Base64.encode(ByteBuffer(bytes: bytes).readableBytesView, into: &encoded)
            #expect(String(buffer: encoded) == reference, "\(bytes)")

            let decoded = Base64.decode(ByteBuffer(string: reference).readableBytesView)
            #expect(decoded.map { Array($0.readableBytesView) } == bytes, "\(reference)")
        }
    }

    @Test(arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"),
    ])
    func matchesTheRFC4648Examples(plain: String, base64: String) {
        var encoded = ByteBuffer()
        Base64.encode(ByteBuffer(string: plain).readableBytesView, into: &encoded)
        #expect(String(buffer: encoded) == base64)
        #expect(Base64.decode(ByteBuffer(string: base64).readableBytesView).map { String(buffer: $0) } == plain)
    }

    @Test func usesPlusAndSlashForTheLastTwoDigits() {
        var encoded = ByteBuffer()
        Base64.encode(ByteBuffer(bytes: [0xFB, 0xFF, 0xBF]).readableBytesView, into: &encoded)
        #expect(String(buffer: encoded) == "+/+/")
        #expect(Base64.decode(ByteBuffer(string: "+/+/").readableBytesView) == ByteBuffer(bytes: [0xFB, 0xFF, 0xBF]))
    }

    @Test func encodesAViewThatDoesNotStartAtIndexZeroAndAppends() {
        var source = ByteBuffer(bytes: [0xAA, 0xAA, 0x01, 0x02, 0x03, 0x04])
        source.moveReaderIndex(forwardBy: 2)
        var encoded = ByteBuffer(string: "b")
        Base64.encode(source.readableBytesView, into: &encoded)
        #expect(String(buffer: encoded) == "bAQIDBA==")
    }

    @Test func decodesAViewThatDoesNotStartAtIndexZero() {
        var text = ByteBuffer(string: "xxbAQIDBA==")
        text.moveReaderIndex(forwardBy: 2)
        #expect(Base64.decode(text.readableBytesView.dropFirst()) == ByteBuffer(bytes: [1, 2, 3, 4]))
    }

    @Test(arguments: [
        "A", "AA", "AAA", "AAAAA", "AQIDBA", // not a multiple of four
        "====", "=AAA", "A===", "AA=A", "A=A=", // padding in the wrong place
        "AA==AAAA", "AAA=AAAA", "AQI=x===", // data after padding
        "AQ-_", "AQ_8", "-w==", // URL-safe alphabet
        "AQ I", "AQI\n", " AQI", "AQI\t", // whitespace
        "AB==", "AAB=", "/x==", "//9=", // non-zero bits under the padding
        "AQ*=", "AQ.D", "Zm9v!", "AQ\u{1E}D", // other characters
    ])
    func rejectsMalformedBase64(text: String) {
        #expect(Base64.decode(ByteBuffer(string: text).readableBytesView) == nil)
    }

    @Test func rejectsEveryByteOutsideTheAlphabetInEveryPosition() {
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        let valid = Array("QUJD".utf8) // "ABC"
        for byte in UInt8.min...UInt8.max where !alphabet.contains(byte) && byte != UInt8(ascii: "=") {
            for position in 0..<4 {
                var bytes = valid
                bytes[position] = byte
                #expect(Base64.decode(ByteBuffer(bytes: bytes).readableBytesView) == nil, "byte 0x\(String(byte, radix: 16)) at \(position)")
            }
        }
    }

    @Test func decodesTheEmptyStringAsNoBytes() {
        #expect(Base64.decode(ByteBuffer().readableBytesView) == ByteBuffer())
    }
}

/// A small deterministic generator (SplitMix64) so random tests reproduce.
struct SeededRandomGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
