import NIOCore
import ParleyProtocol

/// One input is one HTTP long-polling body.
///
/// Invariants: the packets of a decoded body encode to a body that decodes to the same
/// packets, and that encoding is stable (encoding it again gives the same bytes).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPollingPayload(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = ByteBuffer(bytes: UnsafeBufferPointer(start: data, count: size))
    guard let packets = try? PollingPayloadCodec.decode(input) else { return 0 }
    precondition(!packets.isEmpty, "a body decoded to no packet")
    var encoded = ByteBuffer()
    PollingPayloadCodec.encode(packets, into: &encoded)
    let again: [EnginePacket]
    do {
        again = try PollingPayloadCodec.decode(encoded)
    } catch {
        fatalError("re-encoded body does not decode: \(error); input \(Array(input.readableBytesView))")
    }
    precondition(again == packets, "round trip changed \(packets) into \(again)")
    var twice = ByteBuffer()
    PollingPayloadCodec.encode(again, into: &twice)
    precondition(twice == encoded, "encoding is not stable")
    return 0
}
