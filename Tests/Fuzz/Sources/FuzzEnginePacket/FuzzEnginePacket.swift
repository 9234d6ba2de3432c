import NIOCore
import ParleyProtocol

/// One input is the content of one WebSocket text frame.
///
/// Invariants: a decoded packet encodes back to bytes that decode to the same packet, and
/// every packet but `open` (whose JSON the encoder normalises) encodes back to the very input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEnginePacket(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = ByteBuffer(bytes: UnsafeBufferPointer(start: data, count: size))
    _ = EnginePacketCodec.decode(binary: input)
    guard let packet = try? EnginePacketCodec.decode(text: input) else { return 0 }
    guard case .text(let encoded) = EnginePacketCodec.encode(packet, allocator: ByteBufferAllocator()) else {
        fatalError("a packet decoded from text encodes as a binary frame: \(packet)")
    }
    let again: EnginePacket
    do {
        again = try EnginePacketCodec.decode(text: encoded)
    } catch {
        fatalError("re-encoded packet does not decode: \(error); input \(Array(input.readableBytesView))")
    }
    precondition(again == packet, "round trip changed \(packet) into \(again)")
    if case .open = packet { return 0 }
    precondition(encoded == input, "encoding of \(packet) differs from its input \(Array(input.readableBytesView))")
    return 0
}
