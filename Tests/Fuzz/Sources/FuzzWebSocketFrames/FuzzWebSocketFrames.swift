import NIOCore
@_spi(Testing) import ParleyEngine

/// One input is the byte stream a client sends after the upgrade, parsed by the engine's
/// WebSocket frame parser.
///
/// Invariants: parsing the stream in one read and in small reads (cut every `1 + size % 13`
/// bytes, as a network would) gives the same frames and the same failure; no message exceeds
/// the limit and no control frame exceeds 125 bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWebSocketFrames(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let limit = 4096
    let whole = parse([bytes[...]], limit: limit)
    let step = 1 + size % 13
    let pieces = stride(from: 0, to: size, by: step).map { bytes[$0..<min($0 + step, size)] }
    let cut = parse(pieces, limit: limit)
    precondition(whole.frames == cut.frames, "frames differ between one read and reads of \(step) bytes")
    precondition(whole.failure == cut.failure, "failure differs: \(String(describing: whole.failure)) vs \(String(describing: cut.failure))")
    for frame in whole.frames {
        switch frame {
        case .text(let payload), .binary(let payload):
            precondition(payload.readableBytes <= limit, "message of \(payload.readableBytes) bytes above the limit")
        case .ping(let payload), .pong(let payload), .close(let payload):
            precondition(payload.readableBytes <= 125, "control frame of \(payload.readableBytes) bytes")
        }
    }
    return 0
}

private func parse(_ pieces: [Slice<UnsafeBufferPointer<UInt8>>], limit: Int) -> (frames: [WebSocketFrameParserProbe.Frame], failure: WebSocketFrameParserProbe.Failure?) {
    var parser = WebSocketFrameParserProbe(maxMessageSize: limit)
    var frames: [WebSocketFrameParserProbe.Frame] = []
    for piece in pieces {
        do {
            try parser.parse(ByteBuffer(bytes: piece), into: &frames)
        } catch {
            return (frames, error)
        }
    }
    return (frames, nil)
}
