import Foundation
import NIOCore
import ParleyProtocol
import Testing

/// Checks the engine packet codec against `Protocol/vectors/engine-packets.json`
/// (`Protocol/engine.md` §2, §3, §14): one WebSocket frame ↔ one engine packet.
@Suite("Engine packet vectors")
struct EnginePacketVectorTests {
    let file: VectorFile

    init() throws {
        file = try VectorFile(named: "engine-packets")
    }

    @Test func decodesEveryValidFrameIntoItsPacket() throws {
        let vectors = try file.cases("valid")
        #expect(vectors.count >= 30)
        for vector in vectors {
            let expected = try vector.enginePacket()
            switch try vector.engineFrame() {
            case .text(let text):
                do {
                    let decoded = try EnginePacketCodec.decode(text: text)
                    #expect(decoded == expected, "\(vector.name)")
                } catch {
                    Issue.record("\(vector.name): failed to decode with \(error)")
                }
            case .binary(let bytes):
                #expect(EnginePacketCodec.decode(binary: bytes) == expected, "\(vector.name)")
            }
        }
    }

    @Test func encodesEveryValidPacketIntoItsFrameByteForByte() throws {
        for vector in try file.cases("valid") {
            let encoded = EnginePacketCodec.encode(try vector.enginePacket(), allocator: ByteBufferAllocator())
            let expected = try vector.engineFrame()
            switch (encoded, expected) {
            case (.text(let got), .text(let want)):
                #expect(Array(got.readableBytesView) == Array(want.readableBytesView), "\(vector.name): \(String(buffer: got))")
            case (.binary(let got), .binary(let want)):
                #expect(Array(got.readableBytesView) == Array(want.readableBytesView), "\(vector.name)")
            default:
                Issue.record("\(vector.name): encoded as \(encoded), expected \(expected)")
            }
        }
    }

    @Test func rejectsEveryInvalidFrameWithItsCode() throws {
        let vectors = try file.cases("invalid")
        #expect(vectors.count >= 25)
        for vector in vectors {
            let expected = try vector.string("error")
            guard case .text(let text) = try vector.engineFrame() else {
                Issue.record("\(vector.name): binary frames never fail to decode, the vector is wrong")
                continue
            }
            do {
                let packet = try EnginePacketCodec.decode(text: text)
                Issue.record("\(vector.name): decoded \(packet), expected \(expected)")
            } catch {
                #expect(error.code.description == expected, "\(vector.name): \(error)")
            }
        }
    }

    /// `invalidUTF8` cannot be written in a JSON vector, so its cases live here.
    @Test(arguments: [
        [0x34, 0xFF],
        [0x34, 0x68, 0xC3],
        [0x32, 0xED, 0xA0, 0x80],
        [0x34, 0xC0, 0xAF],
        [0x34, 0xF4, 0x90, 0x80, 0x80],
        [0xFF],
        [0x80, 0x34],
    ] as [[UInt8]])
    func rejectsTextFramesThatAreNotUTF8(bytes: [UInt8]) {
        let error = #expect(throws: EngineProtocolError.self) {
            try EnginePacketCodec.decode(text: ByteBuffer(bytes: bytes))
        }
        #expect(error?.code == .invalidUTF8, "\(String(describing: error))")
    }

    @Test func decodesOnlyTheReadableBytesOfTheFrameBuffer() throws {
        var buffer = ByteBuffer(string: "1x4hi")
        buffer.moveReaderIndex(forwardBy: 2)
        #expect(try EnginePacketCodec.decode(text: buffer) == .message(EngineMessage(text: "hi")))

        var close = ByteBuffer(string: "4a1")
        close.moveReaderIndex(forwardBy: 2)
        #expect(try EnginePacketCodec.decode(text: close) == .close)
    }

    @Test func encodesABinaryMessageFromASliceWithoutItsSurroundings() {
        var bytes = ByteBuffer(bytes: [9, 9, 1, 2, 3, 9])
        bytes.moveReaderIndex(forwardBy: 2)
        bytes.moveWriterIndex(to: 5)
        let frame = EnginePacketCodec.encode(.message(.binary(bytes)), allocator: ByteBufferAllocator())
        #expect(frame == .binary(ByteBuffer(bytes: [1, 2, 3])))
    }
}

// MARK: - Vector objects → packets

extension Vector {
    /// The packet described by the `packet` object.
    func enginePacket() throws -> EnginePacket {
        try EngineVectorPacket.make(try object("packet"), vector: name)
    }

    /// The packets described by the `packets` array.
    func enginePackets() throws -> [EnginePacket] {
        try array("packets").map { element in
            guard let fields = element as? [String: Any] else {
                throw VectorError.malformed("\(name): a packet is not an object")
            }
            return try EngineVectorPacket.make(fields, vector: name)
        }
    }

    /// The `frame` object as the frame the codec produces: text bytes or decoded base64.
    func engineFrame() throws -> EnginePacketCodec.Frame {
        let frame = try object("frame")
        if let text = frame["text"] as? String { return .text(ByteBuffer(vectorText: text)) }
        if let base64 = frame["binary"] as? String { return .binary(try ByteBuffer(vectorBase64: base64)) }
        throw VectorError.malformed("\(name): frame has neither text nor binary")
    }
}

/// Converts the packet objects shared by both engine vector files (`Protocol/engine.md` §14).
enum EngineVectorPacket {
    static func make(_ fields: [String: Any], vector: String) throws -> EnginePacket {
        let type = fields["type"] as? String
        switch type {
        case "open":
            guard let handshake = fields["handshake"] as? [String: Any] else {
                throw VectorError.malformed("\(vector): open without handshake")
            }
            return .open(try makeHandshake(handshake, vector: vector))
        case "close":
            return .close
        case "ping":
            return .ping(try optionalText(fields, vector: vector))
        case "pong":
            return .pong(try optionalText(fields, vector: vector))
        case "message":
            if let text = fields["text"] as? String { return .message(.text(ByteBuffer(vectorText: text))) }
            if let base64 = fields["binary"] as? String { return .message(.binary(try ByteBuffer(vectorBase64: base64))) }
            throw VectorError.malformed("\(vector): message without text or binary")
        case "upgrade":
            return .upgrade
        case "noop":
            return .noop
        default:
            throw VectorError.malformed("\(vector): unknown packet type \(type ?? "nil")")
        }
    }

    /// Ping and pong: an absent `text` is the empty payload.
    private static func optionalText(_ fields: [String: Any], vector: String) throws -> String {
        guard let value = fields["text"] else { return "" }
        guard let text = value as? String else { throw VectorError.malformed("\(vector): text is not a string") }
        return text
    }

    private static func makeHandshake(_ fields: [String: Any], vector: String) throws -> EngineHandshake {
        guard let sid = fields["sid"] as? String, let names = fields["upgrades"] as? [String] else {
            throw VectorError.malformed("\(vector): handshake without sid or upgrades")
        }
        let upgrades = try names.map { name in
            guard let kind = EngineTransportKind(rawValue: name) else {
                throw VectorError.malformed("\(vector): unknown transport \(name)")
            }
            return kind
        }
        return EngineHandshake(
            sid: sid,
            upgrades: upgrades,
            pingInterval: .milliseconds(try integer(fields, "pingInterval", vector: vector)),
            pingTimeout: .milliseconds(try integer(fields, "pingTimeout", vector: vector)),
            maxPayload: Int(try integer(fields, "maxPayload", vector: vector))
        )
    }

    private static func integer(_ fields: [String: Any], _ key: String, vector: String) throws -> Int64 {
        guard let number = fields[key] as? NSNumber, Double(number.int64Value) == number.doubleValue else {
            throw VectorError.malformed("\(vector): \(key) is not an integer")
        }
        return number.int64Value
    }
}
