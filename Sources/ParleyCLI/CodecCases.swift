import NIOCore
import ParleyProtocol

/// The cases of `parley bench codec`: typical packets through the codecs of ParleyProtocol.
///
/// Every packet is decoded and encoded once up front, and a case is only built when encoding
/// the decoded packet gives back the exact input bytes, so the loops measure the real path.
enum CodecCases {
    /// Every case, in report order.
    static func all() throws -> [CodecCase] {
        let text32 = String(repeating: "a", count: 32)
        let text100 = String(repeating: "m", count: 100)
        let event = #"2["echo","\#(text32)"]"#
        let blob = ByteBuffer(repeating: 0xA5, count: 64)
        var cases = try engine("engine.message", "4" + event)
        cases += try engine("engine.ping", "2")
        cases += try polling("polling.payload10", Array(repeating: "4" + event, count: 10))
        cases += try socket("socket.event", event)
        cases += try socket("socket.event_ack", #"21["echo",{"a":1,"b":"xyz"}]"#)
        cases += try socket("socket.ack", #"31["\#(text32)"]"#)
        cases += try socket("socket.namespace_event", #"2/admin,7["chat",{"room":"lobby","text":"hello there"}]"#)
        cases += try socket("socket.binary_event", #"51-["upload",{"_placeholder":true,"num":0}]"#, attachments: [blob])
        cases += try socket("socket.fanout_msg", #"2["msg","\#(text100)"]"#)
        cases += try eventName(event)
        cases += try arguments()
        return cases
    }

    /// Decode and encode of one engine packet in its WebSocket text form.
    private static func engine(_ name: String, _ text: String) throws -> [CodecCase] {
        let wire = ByteBuffer(string: text)
        let packet = try EnginePacketCodec.decode(text: wire)
        try requireRoundTrip(name, EnginePacketCodec.encode(packet, allocator: allocator) == .text(wire))
        return [
            CodecCase("\(name).decode", bytes: wire.readableBytes) { try EnginePacketCodec.decode(text: wire).checksum },
            CodecCase("\(name).encode", bytes: wire.readableBytes) { EnginePacketCodec.encode(packet, allocator: allocator).checksum },
        ]
    }

    /// Decode and encode of a long-polling body holding `packets`.
    private static func polling(_ name: String, _ packets: [String]) throws -> [CodecCase] {
        let wire = ByteBuffer(string: packets.joined(separator: "\u{1E}"))
        let decoded = try PollingPayloadCodec.decode(wire)
        // The engine starts a poll response body at 256 bytes and lets it grow.
        let encode = {
            var body = allocator.buffer(capacity: 256)
            PollingPayloadCodec.encode(decoded, into: &body)
            return body
        }
        try requireRoundTrip(name, decoded.count == packets.count && encode() == wire)
        return [
            CodecCase("\(name).decode", bytes: wire.readableBytes) {
                try PollingPayloadCodec.decode(wire).reduce(0) { $0 &+ $1.checksum }
            },
            CodecCase("\(name).encode", bytes: wire.readableBytes) { encode().checksum },
        ]
    }

    /// Decode (text, then each attachment) and encode of one socket packet.
    private static func socket(_ name: String, _ text: String, attachments: [ByteBuffer] = []) throws -> [CodecCase] {
        let wire = ByteBuffer(string: text)
        let packet = try decodeSocket(wire, attachments: attachments)
        try requireRoundTrip(name, SocketPacketEncoder.encode(packet, allocator: allocator) == (wire, attachments))
        return [
            CodecCase("\(name).decode", bytes: wire.readableBytes) { try decodeSocket(wire, attachments: attachments).checksum },
            CodecCase("\(name).encode", bytes: wire.readableBytes) { SocketPacketEncoder.encode(packet, allocator: allocator).text.checksum },
        ]
    }

    /// One packet through a fresh decoder: idle, like a session's decoder between packets.
    private static func decodeSocket(_ text: ByteBuffer, attachments: [ByteBuffer]) throws -> SocketPacket {
        var decoder = SocketPacketDecoder()
        var packet = try decoder.textReceived(text)
        for attachment in attachments { packet = try decoder.binaryReceived(attachment) }
        guard let packet else { throw BenchError("\(String(buffer: text)) waits for more attachments") }
        return packet
    }

    /// The event-name scan a server routes by, on a decoded event.
    private static func eventName(_ text: String) throws -> [CodecCase] {
        let packet = try decodeSocket(ByteBuffer(string: text), attachments: [])
        guard packet.eventName == .string("echo") else { throw BenchError("no event name \"echo\" in \(text)") }
        return [CodecCase("socket.event_name.scan", bytes: nil) { packet.eventName.checksum }]
    }

    /// A small Codable argument: split off the event name, decode it, and encode a payload from it.
    private static func arguments() throws -> [CodecCase] {
        struct Item: Codable, Equatable {
            var a: Int
            var b: String
        }
        let item = Item(a: 1, b: "xyz")
        let payload = ByteBuffer(string: #"["echo",{"a":1,"b":"xyz"}]"#)
        let arguments = SocketArguments(eventPayload: payload, attachments: [])
        guard try arguments.decode(Item.self, at: 0) == item,
            try SocketPayloadEncoder.encode(name: "echo", arguments: [item]).payload == payload
        else { throw BenchError("arguments: \(String(buffer: payload)) does not round-trip") }
        return [
            CodecCase("socket.arguments.split", bytes: payload.readableBytes) {
                SocketArguments(eventPayload: payload, attachments: []).json.checksum
            },
            CodecCase("socket.arguments.decode", bytes: arguments.json.readableBytes) {
                let decoded = try arguments.decode(Item.self, at: 0)
                return decoded.a &+ decoded.b.utf8.count
            },
            CodecCase("socket.payload.encode", bytes: payload.readableBytes) {
                try SocketPayloadEncoder.encode(name: "echo", arguments: [item]).payload.checksum
            },
        ]
    }

    private static let allocator = ByteBufferAllocator()

    private static func requireRoundTrip(_ name: String, _ holds: Bool) throws {
        guard holds else { throw BenchError("\(name): encoding the decoded packet does not give back its bytes") }
    }
}

// Checksums of results: cheap, and they depend on the bytes written, not only on lengths.

extension ByteBuffer {
    fileprivate var checksum: Int {
        readableBytes &+ Int(getInteger(at: writerIndex &- 1, as: UInt8.self) ?? 0)
    }
}

extension EnginePacket {
    fileprivate var checksum: Int {
        switch self {
        case .message(.text(let bytes)), .message(.binary(let bytes)): bytes.checksum
        case .ping(let payload), .pong(let payload): Int(typeDigit) &+ payload.utf8.count
        default: Int(typeDigit)
        }
    }
}

extension EnginePacketCodec.Frame {
    fileprivate var checksum: Int {
        switch self {
        case .text(let bytes), .binary(let bytes): bytes.checksum
        }
    }
}

extension SocketPacket {
    fileprivate var checksum: Int {
        Int(type.rawValue) &+ namespace.utf8.count &+ Int(ackID ?? 0) &+ (payload?.checksum ?? 0) &+ attachments.count
    }
}

extension Optional<SocketPacket.EventName> {
    fileprivate var checksum: Int {
        switch self {
        case .string(let name)?: name.utf8.count
        case .number(let number)?: Int(number)
        case nil: 0
        }
    }
}
