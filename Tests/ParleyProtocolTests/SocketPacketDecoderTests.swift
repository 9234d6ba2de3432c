import NIOCore
import ParleyProtocol
import Testing

@Suite("Socket packet decoder")
struct SocketPacketDecoderTests {
    static let twoAttachments = #"52-/files,9["upload",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#

    @Test func returnsPlainPacketsImmediately() throws {
        var decoder = SocketPacketDecoder()
        let packet = try #require(try decoder.textReceived(ByteBuffer(string: #"2/chat,3["message","hi"]"#)))
        #expect(packet == SocketPacket(type: .event, namespace: "/chat", ackID: 3, payload: ByteBuffer(string: #"["message","hi"]"#)))
        #expect(!decoder.isAwaitingAttachments)
    }

    @Test func holdsABinaryPacketUntilItsLastAttachmentArrives() throws {
        var decoder = SocketPacketDecoder()
        #expect(try decoder.textReceived(ByteBuffer(string: Self.twoAttachments)) == nil)
        #expect(decoder.isAwaitingAttachments)
        #expect(try decoder.binaryReceived(ByteBuffer(bytes: [1])) == nil)
        #expect(decoder.isAwaitingAttachments)
        let packet = try #require(try decoder.binaryReceived(ByteBuffer(bytes: [2, 2])))
        #expect(!decoder.isAwaitingAttachments)
        #expect(packet.type == .binaryEvent)
        #expect(packet.namespace == "/files")
        #expect(packet.ackID == 9)
        #expect(packet.attachments == [ByteBuffer(bytes: [1]), ByteBuffer(bytes: [2, 2])])
    }

    @Test func keepsAttachmentsInArrivalOrder() throws {
        let count = 10
        let placeholders = (0..<count).map { #"{"_placeholder":true,"num":\#($0)}"# }.joined(separator: ",")
        var decoder = SocketPacketDecoder()
        #expect(try decoder.textReceived(ByteBuffer(string: "6\(count)-4[\(placeholders)]")) == nil)
        var packet: SocketPacket?
        for index in 0..<count {
            #expect(packet == nil)
            packet = try decoder.binaryReceived(ByteBuffer(bytes: [UInt8(index)]))
        }
        let complete = try #require(packet)
        #expect(complete.attachments.map { $0.getInteger(at: $0.readerIndex, as: UInt8.self) } == (0..<count).map { UInt8($0) })
    }

    @Test func isReusableAfterAPacketCompletes() throws {
        var decoder = SocketPacketDecoder()
        for round in 0..<3 {
            #expect(try decoder.textReceived(ByteBuffer(string: #"51-["r",{"_placeholder":true,"num":0}]"#)) == nil)
            let packet = try #require(try decoder.binaryReceived(ByteBuffer(bytes: [UInt8(round)])))
            #expect(packet.attachments == [ByteBuffer(bytes: [UInt8(round)])])
            #expect(try decoder.textReceived(ByteBuffer(string: #"2["plain"]"#))?.attachments == [])
        }
    }

    @Test func returnsToIdleAfterAnError() throws {
        var decoder = SocketPacketDecoder()
        #expect(try decoder.textReceived(ByteBuffer(string: Self.twoAttachments)) == nil)
        #expect(throws: SocketProtocolError.self) { try decoder.textReceived(ByteBuffer(string: #"2["x"]"#)) }
        #expect(!decoder.isAwaitingAttachments)
        #expect(try decoder.textReceived(ByteBuffer(string: #"2["x"]"#))?.type == .event)
        #expect(throws: SocketProtocolError.self) { try decoder.binaryReceived(ByteBuffer(bytes: [1])) }
    }

    @Test func enforcesAConfiguredAttachmentCap() throws {
        var decoder = SocketPacketDecoder(maxAttachments: 2)
        #expect(decoder.maxAttachments == 2)
        #expect(try decoder.textReceived(ByteBuffer(string: Self.twoAttachments)) == nil)
        do {
            var strict = SocketPacketDecoder(maxAttachments: 1)
            _ = try strict.textReceived(ByteBuffer(string: Self.twoAttachments))
            Issue.record("two attachments accepted with a cap of one")
        } catch {
            #expect(error.code == .tooManyAttachments)
        }
        var none = SocketPacketDecoder(maxAttachments: 0)
        #expect(throws: SocketProtocolError.self) {
            try none.textReceived(ByteBuffer(string: #"51-["a",{"_placeholder":true,"num":0}]"#))
        }
        #expect(!none.isAwaitingAttachments)
    }

    @Test func readsFromTheReaderIndexAndSlicesThePayload() throws {
        var message = ByteBuffer(string: #"42/admin,1["tellme"]"#)
        message.moveReaderIndex(forwardBy: 1)  // the engine's message prefix
        let (packet, count) = try SocketPacketDecoder.decode(message)
        #expect(count == 0)
        #expect(packet.namespace == "/admin")
        #expect(packet.ackID == 1)
        #expect(packet.payload.map { String(buffer: $0) } == #"["tellme"]"#)
    }

    @Test func readsEventNamesLazily() throws {
        let cases: [(String, SocketPacket.EventName?)] = [
            (#"2["chat message",1,2]"#, .string("chat message")),
            (#"2/a,5[" spaced\u0021",{}]"#, .string(" spaced!")),
            ("2[7]", .number(7)), ("2[-1.5e3,true]", .number(-1500)),
            (#"51-["bin",{"_placeholder":true,"num":0}]"#, .string("bin")),
            (#"31["ack"]"#, nil), (#"0{"a":"b"}"#, nil),
        ]
        for (text, expected) in cases {
            let (packet, _) = try SocketPacketDecoder.decode(ByteBuffer(string: text))
            #expect(packet.eventName == expected, "\(text)")
        }
        let handBuilt = SocketPacket(type: .event, payload: ByteBuffer(string: #"[{"not":"a name"}]"#))
        #expect(handBuilt.eventName == nil)
    }

    @Test func encodesIntoAnExistingBufferAndReturnsAttachments() {
        let packet = SocketPacket(
            type: .binaryAck,
            namespace: "/admin",
            ackID: SocketPacket.maxAckID,
            payload: ByteBuffer(string: #"[{"_placeholder":true,"num":0}]"#),
            attachments: [ByteBuffer(bytes: [0xFF])]
        )
        var buffer = ByteBuffer(string: "4")
        SocketPacketEncoder.encode(packet, into: &buffer)
        #expect(String(buffer: buffer) == #"461-/admin,9007199254740991[{"_placeholder":true,"num":0}]"#)
        let (text, attachments) = SocketPacketEncoder.encode(packet)
        #expect(String(buffer: text) == #"61-/admin,9007199254740991[{"_placeholder":true,"num":0}]"#)
        #expect(attachments == [ByteBuffer(bytes: [0xFF])])
        let plain = SocketPacketEncoder.encode(SocketPacket(type: .disconnect, namespace: "/x"))
        #expect(String(buffer: plain.text) == "1/x,")
        #expect(plain.attachments.isEmpty)
    }

    @Test func roundTripsEveryAckIDDigitCount() throws {
        var id: UInt64 = 0
        while id <= SocketPacket.maxAckID {
            let packet = SocketPacket(type: .ack, ackID: id, payload: ByteBuffer(string: "[]"))
            let (text, _) = SocketPacketEncoder.encode(packet)
            #expect(try SocketPacketDecoder.decode(text).packet == packet)
            id = id == 0 ? 9 : id * 10 + 9
        }
    }
}
