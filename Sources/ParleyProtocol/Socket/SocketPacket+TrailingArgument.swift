import NIOCore

extension SocketPacket {
    /// The packet with `string` added as the last argument of its payload array — how a
    /// recoverable event carries its offset (`Protocol/recovery.md` § 2).
    ///
    /// The payload must be a JSON array (as every event's is); anything else is returned
    /// unchanged.
    public func appendingStringArgument(_ string: String) -> SocketPacket {
        appendingArgument(reservingCapacity: string.utf8.count + 2) { $0.writeJSONString(string) }
    }

    /// The packet with a JSON value, given as its text, added as the last argument of its
    /// payload array — how reliable delivery adds its marker (`Protocol/reliable.md` § 2).
    ///
    /// `json` must be one well-formed JSON value; the payload must be a JSON array (anything
    /// else is returned unchanged).
    public func appendingJSONArgument(_ json: String) -> SocketPacket {
        appendingArgument(reservingCapacity: json.utf8.count) { $0.writeString(json) }
    }

    private func appendingArgument(reservingCapacity extra: Int, _ write: (inout ByteBuffer) -> Void) -> SocketPacket {
        guard let payload else { return self }
        let view = payload.readableBytesView
        guard let close = view.lastIndex(where: { !Self.isJSONWhitespace($0) }), view[close] == UInt8(ascii: "]"),
            let open = view.firstIndex(where: { !Self.isJSONWhitespace($0) }), view[open] == UInt8(ascii: "[")
        else { return self }
        let isEmpty = !view[(open + 1)..<close].contains { !Self.isJSONWhitespace($0) }
        var extended = ByteBuffer()
        extended.reserveCapacity(payload.readableBytes + extra + 2)
        extended.writeBytes(view[..<close])
        if !isEmpty { extended.writeInteger(UInt8(ascii: ",")) }
        write(&extended)
        extended.writeInteger(UInt8(ascii: "]"))
        var copy = self
        copy.payload = extended
        return copy
    }

    private static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }
}
