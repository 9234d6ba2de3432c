import NIOCore
import ParleyProtocol
import Testing

/// Checks strict UTF-8 validation (RFC 3629), which decides `invalidUTF8` (`Protocol/engine.md` §2.2).
@Suite("UTF-8 validation")
struct UTF8ValidationTests {
    private func isValid(_ bytes: [UInt8]) -> Bool {
        UTF8Validation.isValid(ByteBuffer(bytes: bytes).readableBytesView)
    }

    @Test(arguments: [
        [],
        Array("plain ASCII with \u{0}\u{1E}\u{7F} controls".utf8),
        [0xC2, 0x80], // U+0080, smallest two-byte
        [0xDF, 0xBF], // U+07FF, largest two-byte
        [0xE0, 0xA0, 0x80], // U+0800, smallest three-byte
        [0xED, 0x9F, 0xBF], // U+D7FF, just below the surrogates
        [0xEE, 0x80, 0x80], // U+E000, just above the surrogates
        [0xEF, 0xBF, 0xBF], // U+FFFF
        [0xF0, 0x90, 0x80, 0x80], // U+10000, smallest four-byte
        [0xF4, 0x8F, 0xBF, 0xBF], // U+10FFFF, the largest scalar
        Array("héllo wörld 👋 こんにちは 世界 ٤".utf8),
    ] as [[UInt8]])
    func acceptsWellFormedSequences(bytes: [UInt8]) {
        #expect(isValid(bytes))
    }

    @Test(arguments: [
        [0xC0, 0x80], [0xC0, 0xAF], [0xC1, 0xBF], // two-byte overlongs
        [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF], // three-byte overlongs
        [0xF0, 0x80, 0x80, 0x80], [0xF0, 0x8F, 0xBF, 0xBF], // four-byte overlongs
    ] as [[UInt8]])
    func rejectsOverlongEncodings(bytes: [UInt8]) {
        #expect(!isValid(bytes))
    }

    @Test(arguments: [
        [0xED, 0xA0, 0x80], // U+D800
        [0xED, 0xAD, 0xBF], // U+DB7F
        [0xED, 0xB0, 0x80], // U+DC00
        [0xED, 0xBF, 0xBF], // U+DFFF
        [0xED, 0xA0, 0xBD, 0xED, 0xB1, 0x8B], // a CESU-8 surrogate pair
    ] as [[UInt8]])
    func rejectsEncodedSurrogates(bytes: [UInt8]) {
        #expect(!isValid(bytes))
    }

    @Test(arguments: [
        [0xF4, 0x90, 0x80, 0x80], // U+110000
        [0xF4, 0xBF, 0xBF, 0xBF],
        [0xF5, 0x80, 0x80, 0x80], [0xF7, 0xBF, 0xBF, 0xBF],
        [0xF8, 0x88, 0x80, 0x80, 0x80], [0xFC, 0x84, 0x80, 0x80, 0x80, 0x80], // old five- and six-byte forms
        [0xFE], [0xFF],
    ] as [[UInt8]])
    func rejectsSequencesAboveTheLargestScalar(bytes: [UInt8]) {
        #expect(!isValid(bytes))
    }

    @Test(arguments: [
        [0xC3], [0xE2, 0x82], [0xE2], [0xF0, 0x9F, 0x98], [0xF0, 0x9F], [0xF0],
        Array("abc".utf8) + [0xF0, 0x9F, 0x98], // truncated at the very end of a longer buffer
        [0xC3, 0x41], [0xE2, 0x82, 0x41], [0xF0, 0x9F, 0x98, 0x41], // followed by ASCII instead of a continuation
        [0xE2, 0x41, 0x82], [0xF0, 0x9F, 0x41, 0x80], // a bad continuation in the middle
        [0xC3, 0xC3, 0xA9], [0xE2, 0x82, 0xE2, 0x82, 0xAC], // a new lead byte instead of a continuation
    ] as [[UInt8]])
    func rejectsTruncatedSequences(bytes: [UInt8]) {
        #expect(!isValid(bytes))
    }

    @Test(arguments: [
        [0x80], [0xBF], [0x41, 0x80], [0xC3, 0xA9, 0xA9], [0xE2, 0x82, 0xAC, 0x80],
    ] as [[UInt8]])
    func rejectsStrayContinuationBytes(bytes: [UInt8]) {
        #expect(!isValid(bytes))
    }

    @Test func findsABadByteAfterALongASCIIRun() {
        let ascii = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000)
        #expect(isValid(ascii))
        #expect(!isValid(ascii + [0x80]))
        #expect(!isValid(ascii + [0xE2, 0x82]))
        #expect(!isValid([0xFF] + ascii))
    }

    @Test func validatesOnlyTheReadableBytesOfAView() {
        var buffer = ByteBuffer(bytes: [0xFF, 0xE2, 0x82, 0xAC, 0xFF])
        buffer.moveReaderIndex(forwardBy: 1)
        buffer.moveWriterIndex(to: 4)
        #expect(UTF8Validation.isValid(buffer.readableBytesView))
        #expect(!UTF8Validation.isValid(buffer.readableBytesView.dropLast()))
    }

    @Test func agreesWithTheStandardLibraryOnEveryTwoByteInput() {
        var disagreements: [[UInt8]] = []
        for first in UInt8.min...UInt8.max {
            for second in UInt8.min...UInt8.max {
                let bytes = [first, second]
                if !agreesWithStandardLibrary(bytes) { disagreements.append(bytes) }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.count) disagreements, first: \(disagreements.prefix(10))")
    }

    @Test func agreesWithTheStandardLibraryOnLeadBytesWithInterestingContinuations() {
        let interesting: [UInt8] = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xE0, 0xF0, 0xFF]
        var disagreements: [[UInt8]] = []
        for lead in UInt8(0xC0)...UInt8(0xFF) {
            for second in UInt8.min...UInt8.max {
                for third in interesting where !agreesWithStandardLibrary([lead, second, third]) {
                    disagreements.append([lead, second, third])
                }
            }
            for second in interesting {
                for third in interesting {
                    for fourth in interesting where !agreesWithStandardLibrary([lead, second, third, fourth]) {
                        disagreements.append([lead, second, third, fourth])
                    }
                }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.count) disagreements, first: \(disagreements.prefix(10))")
    }

    @Test func agreesWithTheStandardLibraryOnRandomBytes() {
        var random = SeededRandomGenerator(seed: 0x5EED_0F_07F8)
        let scalars: [UInt32] = [0x41, 0xE9, 0x7FF, 0x800, 0x20AC, 0xFFFD, 0x1F44B, 0x10FFFF]
        var disagreements: [[UInt8]] = []
        for _ in 0..<20_000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 0...6, using: &random) {
                switch Int.random(in: 0..<4, using: &random) {
                case 0:
                    // A whole valid scalar, so that valid inputs are common.
                    let scalar = Unicode.Scalar(scalars.randomElement(using: &random)!)!
                    bytes += Array(String(Character(scalar)).utf8)
                case 1:
                    bytes.append(UInt8.random(in: 0x80...0xBF, using: &random))
                case 2:
                    bytes.append(UInt8.random(in: 0xC0...0xFF, using: &random))
                default:
                    bytes.append(UInt8.random(in: 0...255, using: &random))
                }
            }
            if !agreesWithStandardLibrary(bytes) { disagreements.append(bytes) }
        }
        #expect(disagreements.isEmpty, "\(disagreements.count) disagreements, first: \(disagreements.prefix(10))")
    }

    private func agreesWithStandardLibrary(_ bytes: [UInt8]) -> Bool {
        isValid(bytes) == (String(validating: bytes, as: UTF8.self) != nil)
    }
}
