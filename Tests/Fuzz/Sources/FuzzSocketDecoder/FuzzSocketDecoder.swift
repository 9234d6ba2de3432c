import NIOCore
import ParleyProtocol

/// One input is a sequence of engine messages fed to one ``SocketPacketDecoder``: the input is
/// cut at every 0x1E byte, and a piece whose first byte is 0x00 is a binary message (the rest of
/// the piece), any other piece a text message.
///
/// Invariants: a complete packet carries exactly the attachments it announced; its encoding
/// decodes to the same packet (header, payload and attachment count); the decoder is idle
/// after any error.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSocketDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    var decoder = SocketPacketDecoder(maxAttachments: 4)
    for piece in bytes.split(separator: 0x1E, omittingEmptySubsequences: false) {
        let packet: SocketPacket?
        do {
            if piece.first == 0x00 {
                packet = try decoder.binaryReceived(ByteBuffer(bytes: piece.dropFirst()))
            } else {
                packet = try decoder.textReceived(ByteBuffer(bytes: piece))
            }
        } catch {
            precondition(!decoder.isAwaitingAttachments, "decoder still awaits attachments after \(error)")
            continue
        }
        if let packet { check(packet) }
    }
    return 0
}

private func check(_ packet: SocketPacket) {
    precondition(packet.type.isBinary != packet.attachments.isEmpty, "attachments do not match the type: \(packet)")
    let (text, attachments) = SocketPacketEncoder.encode(packet)
    precondition(attachments == packet.attachments)
    precondition(text.readableBytes <= SocketPacketEncoder.textLength(of: packet), "textLength is not an upper bound")
    let decoded: (packet: SocketPacket, attachmentCount: Int)
    do {
        decoded = try SocketPacketDecoder.decode(text, maxAttachments: 4)
    } catch {
        fatalError("encoding of a decoded packet does not decode: \(error); text \(String(buffer: text))")
    }
    var expected = packet
    expected.attachments = []
    precondition(decoded.packet == expected, "round trip changed \(expected) into \(decoded.packet)")
    precondition(decoded.attachmentCount == packet.attachments.count)
}
