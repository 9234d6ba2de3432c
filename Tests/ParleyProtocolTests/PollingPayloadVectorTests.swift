import NIOCore
import ParleyProtocol
import Testing

/// Checks the polling payload codec against `Protocol/vectors/polling-payloads.json`
/// (`Protocol/engine.md` §4, §14): one HTTP body ↔ a list of engine packets.
@Suite("Polling payload vectors")
struct PollingPayloadVectorTests {
    let file: VectorFile

    init() throws {
        file = try VectorFile(named: "polling-payloads")
    }

    @Test func decodesEveryValidBodyIntoItsPackets() throws {
        let vectors = try file.cases("valid")
        #expect(vectors.count >= 15)
        for vector in vectors {
            let expected = try vector.enginePackets()
            do {
                let decoded = try PollingPayloadCodec.decode(ByteBuffer(vectorText: try vector.string("body")))
                #expect(decoded == expected, "\(vector.name)")
            } catch {
                Issue.record("\(vector.name): failed to decode with \(error)")
            }
        }
    }

    @Test func encodesEveryValidPacketListIntoItsBodyByteForByte() throws {
        for vector in try file.cases("valid") {
            var body = ByteBuffer()
            PollingPayloadCodec.encode(try vector.enginePackets(), into: &body)
            let expected = ByteBuffer(vectorText: try vector.string("body"))
            #expect(
                Array(body.readableBytesView) == Array(expected.readableBytesView),
                "\(vector.name): \(String(buffer: body).debugDescription)"
            )
        }
    }

    @Test func rejectsEveryInvalidBodyWithItsCode() throws {
        let vectors = try file.cases("invalid")
        #expect(vectors.count >= 15)
        for vector in vectors {
            let expected = try vector.string("error")
            let body = ByteBuffer(vectorText: try vector.string("body"))
            do {
                let packets = try PollingPayloadCodec.decode(body)
                Issue.record("\(vector.name): decoded \(packets), expected \(expected)")
            } catch {
                #expect(error.code.description == expected, "\(vector.name): \(error)")
            }
        }
    }

    @Test func encodingAppendsAfterWhatTheBufferAlreadyHolds() {
        var body = ByteBuffer(string: "HEAD")
        PollingPayloadCodec.encode([.message(EngineMessage(text: "a")), .noop], into: &body)
        #expect(String(buffer: body) == "HEAD4a\u{1E}6")
    }

    @Test func encodingNoPacketsWritesNothing() {
        var body = ByteBuffer()
        PollingPayloadCodec.encode([EnginePacket](), into: &body)
        #expect(body.readableBytes == 0)
    }

    @Test func decodesOnlyTheReadableBytesOfTheBody() throws {
        var body = ByteBuffer(string: "\u{1E}\u{1E}4a\u{1E}bAQI=")
        body.moveReaderIndex(forwardBy: 2)
        let packets = try PollingPayloadCodec.decode(body)
        #expect(packets == [.message(EngineMessage(text: "a")), .message(EngineMessage(binary: [1, 2]))])
    }

    /// `invalidUTF8` cannot be written in a JSON vector; the first failing segment decides.
    @Test func reportsTheFirstFailingSegmentIncludingInvalidUTF8() {
        let cases: [(name: String, bytes: [UInt8], code: EngineProtocolError.Code)] = [
            ("bad UTF-8 after a good packet", Array("4a\u{1E}4".utf8) + [0xFF], .invalidUTF8),
            ("bad UTF-8 before an unknown type", Array("4".utf8) + [0xC3, 0x1E] + Array("7".utf8), .invalidUTF8),
            ("unknown type before bad UTF-8", Array("7\u{1E}4".utf8) + [0xFF], .unknownPacketType),
            ("bad base64 before an empty segment", Array("b!\u{1E}\u{1E}".utf8), .invalidBase64),
        ]
        for testCase in cases {
            let error = #expect(throws: EngineProtocolError.self, "\(testCase.name)") {
                try PollingPayloadCodec.decode(ByteBuffer(bytes: testCase.bytes))
            }
            #expect(error?.code == testCase.code, "\(testCase.name): \(String(describing: error))")
        }
    }
}
