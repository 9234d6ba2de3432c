extension SocketPacketDecoder {
    /// The parsed header of one text packet, with its payload already validated
    /// (`Protocol/socket.md` §3 and §6).
    struct Header {
        var type: SocketPacketType
        var attachmentCount = 0
        var namespace = SocketPacket.defaultNamespace
        var ackID: UInt64?
        /// Where the JSON payload starts; equal to the byte count when there is none.
        var payloadOffset = 0

        /// Parses `bytes` in wire order and reports the first violation.
        init(parsing bytes: UnsafeRawBufferPointer, maxAttachments: Int) throws(SocketProtocolError) {
            guard let typeByte = bytes.first else {
                throw SocketProtocolError(.emptyPacket, "empty text message")
            }
            guard let type = SocketPacketType(rawValue: typeByte &- UInt8(ascii: "0")) else {
                throw SocketProtocolError(.unknownPacketType, "byte 0x\(String(typeByte, radix: 16)) is not a packet type digit 0-6")
            }
            self.type = type
            var index = 1
            try parseAttachmentCount(bytes, &index, maxAttachments: maxAttachments)
            try parseNamespace(bytes, &index)
            try parseAckID(bytes, &index)
            payloadOffset = index
            try validatePayload(UnsafeRawBufferPointer(rebasing: bytes[index...]))
        }

        private mutating func parseAttachmentCount(
            _ bytes: UnsafeRawBufferPointer,
            _ index: inout Int,
            maxAttachments: Int
        ) throws(SocketProtocolError) {
            let digitsStart = index
            var count = 0
            while index < bytes.count, let digit = decimalDigit(bytes[index]) {
                // Saturate instead of overflowing: anything above the cap is rejected anyway.
                count = count > maxAttachments ? count : count * 10 + digit
                index += 1
            }
            let hasCount = index > digitsStart && index < bytes.count && bytes[index] == UInt8(ascii: "-")
            guard type.isBinary else {
                if hasCount {
                    throw SocketProtocolError(.invalidAttachmentCount, "a \(type) packet carries no attachment count")
                }
                index = digitsStart
                return
            }
            guard hasCount else {
                throw SocketProtocolError(.invalidAttachmentCount, "a \(type) packet needs a decimal attachment count followed by '-'")
            }
            guard count > 0 else {
                throw SocketProtocolError(.invalidAttachmentCount, "a \(type) packet announces at least one attachment")
            }
            guard count <= maxAttachments else {
                throw SocketProtocolError(.tooManyAttachments, "more than \(maxAttachments) attachments announced")
            }
            attachmentCount = count
            index += 1
        }

        private mutating func parseNamespace(_ bytes: UnsafeRawBufferPointer, _ index: inout Int) throws(SocketProtocolError) {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "/") else { return }
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: ",") {
                switch bytes[index] {
                case 0..<0x20, 0x7F, UInt8(ascii: "\""), UInt8(ascii: "["), UInt8(ascii: "{"):
                    // None of these can be in a namespace: the comma before a payload is missing.
                    throw SocketProtocolError(.invalidNamespace, "forbidden byte in namespace at byte \(index)")
                default:
                    index += 1
                }
            }
            let name = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
            if index < bytes.count { index += 1 }  // the comma
            if name.count == 1 { return }  // "/" itself, written explicitly
            guard let namespace = String(validating: name, as: UTF8.self) else {
                throw SocketProtocolError(.invalidNamespace, "namespace is not UTF-8")
            }
            self.namespace = namespace
        }

        private mutating func parseAckID(_ bytes: UnsafeRawBufferPointer, _ index: inout Int) throws(SocketProtocolError) {
            guard index < bytes.count, let first = decimalDigit(bytes[index]) else {
                if type.isAck { throw SocketProtocolError(.invalidAckID, "a \(type) packet needs an ack id") }
                return
            }
            guard type.isEvent || type.isAck else {
                throw SocketProtocolError(.invalidAckID, "a \(type) packet carries no ack id")
            }
            var id = UInt64(first)
            index += 1
            while index < bytes.count, let digit = decimalDigit(bytes[index]) {
                // id ≤ 2^53 − 1 here, so id * 10 + 9 cannot overflow UInt64.
                id = id * 10 + UInt64(digit)
                guard id <= SocketPacket.maxAckID else {
                    throw SocketProtocolError(.invalidAckID, "ack id above \(SocketPacket.maxAckID)")
                }
                index += 1
            }
            ackID = id
        }

        private func validatePayload(_ payload: UnsafeRawBufferPointer) throws(SocketProtocolError) {
            guard !payload.isEmpty else {
                switch type {
                case .connect, .disconnect: return
                default: throw SocketProtocolError(.invalidPayload, "a \(type) packet needs a payload")
                }
            }
            if type == .disconnect {
                throw SocketProtocolError(.invalidPayload, "a DISCONNECT packet carries no payload")
            }
            let summary = try JSONScanner.scan(payload)
            let kind = summary.value.kind
            switch type {
            case .connect:
                guard kind == .object else { throw invalidShape("an object") }
            case .connectError:
                guard kind == .object || kind == .string else { throw invalidShape("an object (or a string)") }
            case .ack, .binaryAck:
                guard kind == .array else { throw invalidShape("an array") }
            case .event, .binaryEvent:
                guard kind == .array, let name = summary.firstElement else { throw invalidShape("a non-empty array") }
                switch name.kind {
                case .number:
                    return
                case .string:
                    let token = UnsafeRawBufferPointer(rebasing: payload[name.range])
                    if SocketPacket.isReservedEventName(token: token) {
                        throw SocketProtocolError(.reservedEventName, "event name \(String(decoding: token, as: UTF8.self)) is reserved")
                    }
                default:
                    throw SocketProtocolError(.invalidPayload, "an event name must be a string or a number")
                }
            case .disconnect:
                return
            }
        }

        private func invalidShape(_ expected: String) -> SocketProtocolError {
            SocketProtocolError(.invalidPayload, "the payload of a \(type) packet must be \(expected)")
        }
    }
}

/// The value of an ASCII decimal digit, or `nil`.
@inline(__always)
private func decimalDigit(_ byte: UInt8) -> Int? {
    let value = byte &- UInt8(ascii: "0")
    return value < 10 ? Int(value) : nil
}
