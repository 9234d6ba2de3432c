import Foundation
import NIOCore
import ParleyProtocol
import ParleyStore

/// The reserved last argument of reliable events (`Protocol/reliable.md` § 2), and the ids and
/// offsets it carries.
enum ReliableMarker {
    /// A message id or room offset: `<epoch>.<n>`.
    static func position(epoch: String, _ number: UInt64) -> String {
        "\(epoch).\(number)"
    }

    /// The epoch and number of `<epoch>.<n>`; `nil` when malformed.
    static func parsePosition(_ text: String) -> (epoch: String, number: UInt64)? {
        guard let dot = text.lastIndex(of: "."), let number = UInt64(text[text.index(after: dot)...]) else { return nil }
        let epoch = String(text[..<dot])
        guard !epoch.isEmpty else { return nil }
        return (epoch, number)
    }

    /// The event packet of a queued message for one socket: the stored event, the marker
    /// with its id `<epoch>.<sequence>` last, and the ack id. Written in one buffer: this is
    /// the per-message path of every delivery.
    static func userPacket(_ message: StoredMessage, epoch: String, sequence: UInt64, namespace: String, ackID: UInt64) -> SocketPacket {
        let stored = message.payload
        // The stored event is a JSON array with at least its name: everything before its closing
        // bracket, then the marker. (An id is `[0-9a-z.]`: nothing to escape.)
        var end = stored.endIndex
        while end > stored.startIndex, stored[end - 1] != UInt8(ascii: "]") { end -= 1 }
        var payload = ByteBuffer()
        payload.reserveCapacity(end + epoch.utf8.count + 48)
        payload.writeBytes(stored[..<max(stored.startIndex, end - 1)])
        payload.writeStaticString(",{\"parley\":{\"id\":\"")
        payload.writeString(epoch)
        payload.writeStaticString(".")
        payload.writeString(String(sequence))
        payload.writeStaticString("\"}}]")
        return SocketPacket(
            type: message.attachments.isEmpty ? .event : .binaryEvent,
            namespace: namespace,
            ackID: ackID,
            payload: payload,
            attachments: message.attachments.map { ByteBuffer(bytes: $0) }
        )
    }

    /// The event packet of a room message as it goes out live: the marker names the room and
    /// the message's offset.
    static func roomPacket(_ message: StoredMessage, room: String, offset: String, namespace: String) -> SocketPacket {
        packet(message, namespace: namespace, ackID: nil)
            .appendingJSONArgument(#"{"parley":{"room":"# + jsonString(room) + #","offset":"# + jsonString(offset) + "}}")
    }

    private static func packet(_ message: StoredMessage, namespace: String, ackID: UInt64?) -> SocketPacket {
        SocketPacket(
            type: message.attachments.isEmpty ? .event : .binaryEvent,
            namespace: namespace,
            ackID: ackID,
            payload: ByteBuffer(bytes: message.payload),
            attachments: message.attachments.map { ByteBuffer(bytes: $0) }
        )
    }

    /// `string` as a JSON string literal.
    static func jsonString(_ string: String) -> String {
        var buffer = ByteBuffer()
        buffer.writeJSONString(string)
        return String(buffer: buffer)
    }

    /// An error answer: `[{"parley":{"error":code,"message":…}}]`.
    static func errorAnswer(_ code: String, _ message: String) -> ByteBuffer {
        ByteBuffer(string: #"[{"parley":{"error":"# + jsonString(code) + #","message":"# + jsonString(message) + "}}]")
    }

    // MARK: Client emits

    /// What the marker of a client emit holds.
    struct ClientMarker: Decodable {
        struct Fields: Decodable {
            var key: String?
        }

        var parley: Fields
    }

    /// The idempotency key of an event payload whose last argument is a marker, and the payload
    /// without it; `nil` when the last argument is not a marker. A marker without a valid key
    /// is `.invalid`.
    enum KeyedPayload {
        case keyed(key: String, payload: ByteBuffer)
        case invalid(reason: String)
    }

    static func key(in payload: ByteBuffer) -> KeyedPayload? {
        let view = payload.readableBytesView
        guard let summary = try? JSONScanner.scan(payload), let first = summary.firstElement,
            let last = summary.lastElement, last.kind == .object, last.range.lowerBound > first.range.lowerBound
        else { return nil }
        let markerBytes = view[(view.startIndex + last.range.lowerBound)..<(view.startIndex + last.range.upperBound)]
        // Cheap test before decoding: a marker has the single key `parley`.
        guard let object = try? JSONSerialization.jsonObject(with: Data(markerBytes)) as? [String: Any],
            object.count == 1, let fields = object["parley"] as? [String: Any]
        else { return nil }
        guard let key = fields["key"] as? String else { return .invalid(reason: "marker without a key") }
        guard isValidKey(key) else { return .invalid(reason: "invalid idempotency key") }
        // Cut from the comma before the marker.
        var cut = view.startIndex + last.range.lowerBound
        while cut > view.startIndex, view[cut - 1] != UInt8(ascii: ",") { cut -= 1 }
        var stripped = ByteBuffer()
        stripped.reserveCapacity(cut - view.startIndex)
        stripped.writeBytes(view[view.startIndex..<(cut - 1)])
        stripped.writeInteger(UInt8(ascii: "]"))
        return .keyed(key: key, payload: stripped)
    }

    /// 1 to 128 printable ASCII characters.
    static func isValidKey(_ key: String) -> Bool {
        let utf8 = key.utf8
        return !utf8.isEmpty && utf8.count <= 128 && utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
    }

    /// 1 to 128 characters without control characters.
    static func isValidDeviceID(_ device: String) -> Bool {
        let count = device.count
        return count >= 1 && count <= 128 && !device.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    /// FNV-1a over the payload and attachments: a retry must send the same bytes.
    static func digest(_ payload: ByteBuffer, attachments: [ByteBuffer]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix<C: Collection<UInt8>>(_ bytes: C) {
            for byte in bytes {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01B3
            }
            hash ^= UInt64(bytes.count)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        mix(payload.readableBytesView)
        for attachment in attachments { mix(attachment.readableBytesView) }
        return hash
    }
}
