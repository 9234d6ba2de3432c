import NIOCore

extension SocketPacket {
    /// The name of an event: a string, or (rarely, but the protocol allows it) a number.
    public enum EventName: Sendable, Hashable {
        /// A string name, such as `"chat message"`.
        case string(String)
        /// A numeric name; JSON numbers are read as a JavaScript peer reads them.
        case number(Double)
    }

    /// The names the Socket.IO layer uses for itself; a peer may not send an event with one
    /// of them (`Protocol/socket.md` §6).
    public static let reservedEventNames: [String] = [
        "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
    ]

    /// The event name of an `event` or `binaryEvent` packet, read from the first element of
    /// the payload without decoding the arguments after it.
    ///
    /// Each access scans the name again; keep the result if you need it twice.
    /// `nil` for other kinds, and for a payload whose first element is not a string or number
    /// (a decoded packet always has a valid name).
    public var eventName: EventName? {
        guard type.isEvent, let payload else { return nil }
        return payload.withUnsafeReadableBytes { bytes -> EventName? in
            // Best effort: a decoded packet was validated, a hand-built one may not be.
            guard let first = try? JSONScanner.firstElement(ofArray: bytes) else { return nil }
            let token = UnsafeRawBufferPointer(rebasing: bytes[first.range])
            switch first.kind {
            case .string:
                return JSONScanner.decodeString(token).map(EventName.string)
            case .number:
                return Double(String(decoding: token, as: UTF8.self)).map(EventName.number)
            default:
                return nil
            }
        }
    }

    /// Whether a JSON string token names a reserved event; compares bytes without building a
    /// `String` unless the token has escapes.
    static func isReservedEventName(token: UnsafeRawBufferPointer) -> Bool {
        let content = UnsafeRawBufferPointer(rebasing: token.dropFirst().dropLast())
        if !content.contains(UInt8(ascii: "\\")) {
            guard content.count <= 14 else { return false }  // "removeListener" is the longest
            return reservedEventNames.contains { $0.utf8.elementsEqual(content) }
        }
        guard let name = JSONScanner.decodeString(token) else { return false }
        return reservedEventNames.contains(name)
    }
}
