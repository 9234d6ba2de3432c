import NIOCore
import Testing

@testable import ParleyEngine

@Suite("WebSocket frame parser")
struct WebSocketFrameParserTests {
    typealias Frame = WebSocketFrameParser.Frame

    /// A client frame: masked with `key`, extended lengths as RFC 6455 § 5.2 encodes them.
    static func clientFrame(opcode: UInt8, fin: Bool = true, rsv: UInt8 = 0, masked: Bool = true,
                            payload: [UInt8], key: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]) -> [UInt8] {
        var bytes: [UInt8] = [(fin ? 0x80 : 0) | rsv << 4 | opcode]
        let mask: UInt8 = masked ? 0x80 : 0
        switch payload.count {
        case ..<126:
            bytes.append(mask | UInt8(payload.count))
        case ...0xFFFF:
            bytes.append(mask | 126)
            bytes += [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        default:
            bytes.append(mask | 127)
            bytes += (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xFF) }
        }
        guard masked else { return bytes + payload }
        return bytes + key + payload.enumerated().map { $0.element ^ key[$0.offset % 4] }
    }

    static func parse(_ chunks: [[UInt8]], maxMessageSize: Int = 1 << 20) throws -> [Frame] {
        var parser = WebSocketFrameParser(maxMessageSize: maxMessageSize)
        var frames: [Frame] = []
        for chunk in chunks {
            try parser.parse(ByteBuffer(bytes: chunk)) { frames.append($0) }
        }
        return frames
    }

    static func buffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test func unmasksATextFrame() throws {
        let frames = try Self.parse([Self.clientFrame(opcode: 0x1, payload: Array("4hello, frames".utf8))])
        #expect(frames == [.text(Self.buffer("4hello, frames"))])
    }

    @Test(arguments: [0, 1, 7, 8, 9, 125, 126, 127, 65_535, 65_536, 70_001])
    func carriesEveryLengthEncoding(count: Int) throws {
        let payload = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let frames = try Self.parse([Self.clientFrame(opcode: 0x2, payload: payload)])
        #expect(frames == [.binary(ByteBuffer(bytes: payload))])
    }

    @Test func framesCutAtEveryByteComeOutOnceAndInOrder() throws {
        let stream = Self.clientFrame(opcode: 0x1, payload: Array("4first".utf8))
            + Self.clientFrame(opcode: 0x9, payload: Array("p".utf8))
            + Self.clientFrame(opcode: 0x2, payload: Array(repeating: 0xAB, count: 300))
        let frames = try Self.parse(stream.map { [$0] })
        #expect(frames == [.text(Self.buffer("4first")), .ping(Self.buffer("p")), .binary(ByteBuffer(bytes: Array(repeating: 0xAB, count: 300)))])
    }

    @Test func reassemblesAFragmentedMessageAroundAControlFrame() throws {
        let frames = try Self.parse([
            Self.clientFrame(opcode: 0x1, fin: false, payload: Array("4frag".utf8)),
            Self.clientFrame(opcode: 0x9, payload: []),
            Self.clientFrame(opcode: 0x0, fin: false, payload: Array("men".utf8)),
            Self.clientFrame(opcode: 0x0, fin: true, payload: Array("ted".utf8)),
        ])
        #expect(frames == [.ping(ByteBuffer()), .text(Self.buffer("4fragmented"))])
    }

    @Test func readsCloseAndPong() throws {
        let frames = try Self.parse([Self.clientFrame(opcode: 0xA, payload: [1]), Self.clientFrame(opcode: 0x8, payload: [0x03, 0xE8])])
        #expect(frames == [.pong(ByteBuffer(bytes: [1])), .close(ByteBuffer(bytes: [0x03, 0xE8]))])
    }

    @Test(arguments: [
        ("unmasked", clientFrame(opcode: 0x1, masked: false, payload: [0x34])),
        ("reserved bit", clientFrame(opcode: 0x1, rsv: 0b100, payload: [0x34])),
        ("unknown opcode", clientFrame(opcode: 0x3, payload: [])),
        ("fragmented ping", clientFrame(opcode: 0x9, fin: false, payload: [])),
        ("long ping", clientFrame(opcode: 0x9, payload: Array(repeating: 0, count: 126))),
        ("stray continuation", clientFrame(opcode: 0x0, payload: [0x34])),
        ("text inside a fragmented message", clientFrame(opcode: 0x1, fin: false, payload: [0x34]) + clientFrame(opcode: 0x1, payload: [0x34])),
        ("64-bit length with the top bit", [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1]),
    ])
    func refusesFramesThatBreakTheRules(name: String, bytes: [UInt8]) {
        #expect(throws: WebSocketFrameParser.Failure.self, "\(name)") { try Self.parse([bytes]) }
        do {
            _ = try Self.parse([bytes])
        } catch let failure as WebSocketFrameParser.Failure {
            guard case .protocolError = failure else {
                Issue.record("\(name): \(failure)")
                return
            }
        } catch {
            Issue.record("\(name): \(error)")
        }
    }

    @Test func aMessageAboveTheLimitFailsFromItsHeaderAlone() {
        let header = Array(Self.clientFrame(opcode: 0x2, payload: Array(repeating: 0, count: 2_001)).prefix(8))
        #expect(throws: WebSocketFrameParser.Failure.tooLarge) { try Self.parse([header], maxMessageSize: 2_000) }
    }

    @Test func fragmentsAddingUpAboveTheLimitFail() {
        let first = Self.clientFrame(opcode: 0x1, fin: false, payload: Array(repeating: 0x34, count: 1_500))
        let second = Self.clientFrame(opcode: 0x0, payload: Array(repeating: 0x34, count: 501))
        #expect(throws: WebSocketFrameParser.Failure.tooLarge) { try Self.parse([first, second], maxMessageSize: 2_000) }
    }

    @Test func aLargeFrameArrivingInManySmallReadsIsParsedWhole() throws {
        let payload = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let bytes = Self.clientFrame(opcode: 0x2, payload: payload) + Self.clientFrame(opcode: 0x1, payload: Array("4ok".utf8))
        // 7-byte reads: the cut frame is appended to, never copied whole per read.
        let chunks = stride(from: 0, to: bytes.count, by: 7).map { Array(bytes[$0..<min($0 + 7, bytes.count)]) }
        let frames = try Self.parse(chunks)
        #expect(frames == [.binary(ByteBuffer(bytes: payload)), .text(Self.buffer("4ok"))])
    }
}
