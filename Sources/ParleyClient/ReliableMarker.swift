import Foundation
import NIOCore
import ParleyProtocol

/// Parley's reserved argument `{"parley":{…}}` (`Protocol/reliable.md` § 2): what it says, and
/// how it is found in, taken out of and added to a payload without touching the other bytes.
struct ReliableMarker: Decodable, Sendable, Hashable {
    /// The message id of a per-user message (§ 3.2).
    var id: String?
    /// The idempotency key of a client emit (§ 5).
    var key: String?
    /// The room of a live room message (§ 4.1).
    var room: String?
    /// The room offset of a live room message.
    var offset: String?
    /// The error code of an answer (§ 5, § 4.2).
    var error: String?
    /// The error's message.
    var message: String?

    /// The marker held in `bytes[range]`: an object whose only member is `parley`, an object.
    static func parse(_ bytes: [UInt8], in range: Range<Int>) -> ReliableMarker? {
        guard let members = JSONSlices.members(ofObject: bytes, in: range), members.count == 1, members[0].key == "parley" else { return nil }
        return try? JSONDecoder().decode(ReliableMarker.self, from: Data(bytes[members[0].value]))
    }

    /// The marker of an event payload `["name",…,marker]` — or `["name",…,marker,"offset"]`
    /// when `allowingTrailingOffset` (a recovering socket) — and the payload without it.
    static func extract(fromEvent payload: ByteBuffer, allowingTrailingOffset: Bool) -> (marker: ReliableMarker, payload: ByteBuffer)? {
        // Most events have no marker: look at the last bytes before copying anything.
        let view = payload.readableBytesView
        guard let close = view.lastIndex(where: { !Self.isWhitespace($0) }), close > view.startIndex,
            let before = view[..<close].lastIndex(where: { !Self.isWhitespace($0) })
        else { return nil }
        let tail = view[before]
        guard tail == UInt8(ascii: "}") || (allowingTrailingOffset && tail == UInt8(ascii: "\"")) else { return nil }
        let bytes = Array(view)
        guard let elements = JSONSlices.elements(ofArray: bytes), elements.count >= 2 else { return nil }
        var candidates = [elements.count - 1]
        if allowingTrailingOffset, elements.count >= 3, bytes[elements[elements.count - 1].lowerBound] == UInt8(ascii: "\"") {
            candidates.append(elements.count - 2)
        }
        for index in candidates {
            guard let marker = parse(bytes, in: elements[index]) else { continue }
            // Drop the marker with the comma before it: the name always precedes it.
            var stripped = ByteBuffer()
            stripped.reserveCapacity(bytes.count)
            stripped.writeBytes(bytes[..<elements[index - 1].upperBound])
            stripped.writeBytes(bytes[elements[index].upperBound...])
            return (marker, stripped)
        }
        return nil
    }

    /// The payload `["name",…]` with the marker `{"parley":{"key":key}}` added last.
    static func appending(key: String, to payload: ByteBuffer) -> ByteBuffer {
        var marker = ByteBuffer(string: #"{"parley":{"key":"#)
        marker.writeJSONString(key)
        marker.writeString("}}")
        let view = payload.readableBytesView
        guard let close = view.lastIndex(where: { !Self.isWhitespace($0) }), view[close] == UInt8(ascii: "]") else { return payload }
        let isEmpty = view[..<close].last(where: { !Self.isWhitespace($0) }) == UInt8(ascii: "[")
        var result = ByteBuffer()
        result.reserveCapacity(payload.readableBytes + marker.readableBytes + 1)
        result.writeBytes(view[..<close])
        if !isEmpty { result.writeInteger(UInt8(ascii: ",")) }
        result.writeBuffer(&marker)
        result.writeInteger(UInt8(ascii: "]"))
        return result
    }

    /// The error marker an answer consists of (`[{"parley":{"error":…}}]`), if it is one.
    static func error(inAnswer arguments: SocketArguments) -> ReliableMarker? {
        let bytes = Array(arguments.json.readableBytesView)
        guard let first = JSONSlices.elements(ofArray: bytes)?.first, let marker = parse(bytes, in: first), marker.error != nil else { return nil }
        return marker
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }
}
