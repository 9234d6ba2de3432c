import Foundation
import NIOCore
import ParleyProtocol
import Testing

/// Checks the socket packet codec against `Protocol/vectors/socket-packets.json`.
@Suite("Socket packet vectors")
struct SocketPacketVectorTests {
    let file: VectorFile

    init() throws {
        file = try VectorFile(named: "socket-packets")
    }

    @Test func decodesEveryValidVectorIntoItsPacket() throws {
        let vectors = try file.cases("valid")
        #expect(vectors.count >= 30)
        for vector in vectors {
            let expected = try vector.expectedPacket()
            var decoder = SocketPacketDecoder()
            let decoded = try vector.feed(to: &decoder)
            #expect(decoded == expected, "\(vector.name)")
            #expect(!decoder.isAwaitingAttachments, "\(vector.name)")
        }
    }

    @Test func encodesEveryValidVectorByteForByte() throws {
        for vector in try file.cases("valid") {
            let packet = try vector.expectedPacket()
            let (text, attachments) = SocketPacketEncoder.encode(packet)
            #expect(String(buffer: text) == (try vector.string("encoded")), "\(vector.name)")
            #expect(attachments == (try vector.attachments()), "\(vector.name)")

            var appended = ByteBuffer(string: "4")
            SocketPacketEncoder.encode(packet, into: &appended)
            #expect(String(buffer: appended) == "4" + (try vector.string("encoded")), "\(vector.name)")
        }
    }

    @Test func decodesEveryDecodeOnlyVectorIntoItsPacket() throws {
        let vectors = try file.cases("decodeOnly")
        #expect(!vectors.isEmpty)
        for vector in vectors {
            var decoder = SocketPacketDecoder()
            #expect(try vector.feed(to: &decoder) == vector.expectedPacket(), "\(vector.name)")
        }
    }

    @Test func staticDecodeReportsTheAnnouncedAttachmentCount() throws {
        for vector in try file.cases("valid") + file.cases("decodeOnly") {
            let text = ByteBuffer(vectorText: try vector.string("encoded"))
            let (packet, count) = try SocketPacketDecoder.decode(text)
            var expected = try vector.expectedPacket()
            #expect(count == expected.attachments.count, "\(vector.name)")
            expected.attachments = []
            #expect(packet == expected, "\(vector.name)")
        }
    }

    @Test func rejectsEveryInvalidVectorWithItsCode() throws {
        let vectors = try file.cases("invalid")
        #expect(vectors.count >= 25)
        for vector in vectors {
            let text = ByteBuffer(vectorText: try vector.string("encoded"))
            let expected = try vector.string("error")
            var decoder = SocketPacketDecoder()
            do {
                let packet = try decoder.textReceived(text)
                Issue.record("\(vector.name): decoded \(String(describing: packet)), expected \(expected)")
            } catch {
                #expect(error.code.description == expected, "\(vector.name): \(error)")
            }
            #expect(!decoder.isAwaitingAttachments, "\(vector.name)")
        }
    }

    @Test func rejectsEveryInvalidSequenceAtItsLastFrame() throws {
        let vectors = try file.cases("invalidSequences")
        #expect(!vectors.isEmpty)
        for vector in vectors {
            let frames = try vector.array("frames").compactMap { $0 as? [String: String] }
            let expected = try vector.string("error")
            var decoder = SocketPacketDecoder()
            for (position, frame) in frames.enumerated() {
                let isLast = position == frames.count - 1
                do {
                    if let text = frame["text"] {
                        _ = try decoder.textReceived(ByteBuffer(vectorText: text))
                    } else {
                        _ = try decoder.binaryReceived(ByteBuffer(vectorBase64: frame["binary"] ?? ""))
                    }
                    if isLast { Issue.record("\(vector.name): last frame accepted, expected \(expected)") }
                } catch let error as SocketProtocolError {
                    #expect(isLast, "\(vector.name): frame \(position) failed early: \(error)")
                    #expect(error.code.description == expected, "\(vector.name): \(error)")
                    break
                }
            }
        }
    }

    @Test func readsTheEventNameOfEveryValidEvent() throws {
        for vector in try file.cases("valid") + file.cases("decodeOnly") {
            let packet = try vector.expectedPacket()
            guard packet.type.isEvent, let payload = packet.payload else {
                #expect(packet.eventName == nil, "\(vector.name)")
                continue
            }
            // Foundation is the independent reader here; it refuses lone surrogates, which
            // Parley reads as U+FFFD.
            let arguments = try? JSONSerialization.jsonObject(with: Data(payload.readableBytesView), options: [.fragmentsAllowed]) as? [Any]
            switch packet.eventName {
            case .string(let name):
                #expect(arguments?.first as? String ?? "\u{FFFD}" == name, "\(vector.name)")
            case .number(let number):
                #expect((arguments?.first as? NSNumber)?.doubleValue == number, "\(vector.name)")
            case nil:
                Issue.record("\(vector.name): no event name")
            }
        }
    }
}

extension Vector {
    /// The packet described by the `packet` object, with the vector's attachments.
    func expectedPacket() throws -> SocketPacket {
        let fields = try object("packet")
        let typeName = fields["type"] as? String
        guard let type = SocketPacketType.allCases.first(where: { $0.description == typeName }) else {
            throw VectorError.malformed("\(name): unknown packet type \(typeName ?? "nil")")
        }
        guard let namespace = fields["nsp"] as? String else { throw VectorError.malformed("\(name): missing nsp") }
        var ackID: UInt64?
        if let id = fields["id"] {
            guard let number = id as? NSNumber else { throw VectorError.malformed("\(name): id is not a number") }
            ackID = number.uint64Value
        }
        let payload = (fields["payload"] as? String).map { ByteBuffer(vectorText: $0) }
        return SocketPacket(type: type, namespace: namespace, ackID: ackID, payload: payload, attachments: try attachments())
    }

    /// The `attachments` array decoded from base64.
    func attachments() throws -> [ByteBuffer] {
        try array("attachments").map { blob in
            guard let base64 = blob as? String else { throw VectorError.malformed("\(name): attachment is not a string") }
            return try ByteBuffer(vectorBase64: base64)
        }
    }

    /// Feeds `encoded` and then every attachment to `decoder`, expecting the packet to be
    /// complete exactly at the last message.
    func feed(to decoder: inout SocketPacketDecoder) throws -> SocketPacket? {
        let blobs = try attachments()
        var result = try decoder.textReceived(ByteBuffer(vectorText: try string("encoded")))
        for (position, blob) in blobs.enumerated() {
            #expect(result == nil, "\(name): packet complete before attachment \(position)")
            result = try decoder.binaryReceived(blob)
        }
        return result
    }
}
