public import Foundation
public import NIOCore
import Synchronization

/// The arguments of an event or an acknowledgement, kept as the JSON bytes that arrived until
/// a handler asks for them. Binary attachments are put back where their placeholders stand:
/// a `Data` (or `[UInt8]`-shaped `Data`) field decodes from them.
public struct SocketArguments: Sendable {
    /// The JSON array of the arguments, e.g. `[{"text":"hi"},3]`.
    public let json: ByteBuffer
    /// The binary attachments, in placeholder order.
    public let attachments: [ByteBuffer]

    /// Arguments from a JSON array and its attachments.
    public init(json: ByteBuffer, attachments: [ByteBuffer] = []) {
        self.json = json
        self.attachments = attachments
    }

    /// The arguments of an event payload `["name", arg...]`: everything after the name.
    public init(eventPayload payload: ByteBuffer, attachments: [ByteBuffer]) {
        var rest = ByteBuffer(string: "[")
        let view = payload.readableBytesView
        let end = payload.withUnsafeReadableBytes { bytes in
            (try? JSONScanner.scan(bytes).firstElement?.range.upperBound) ?? 1
        }
        // Skip the name, whitespace and the comma; what is left ends with the closing bracket.
        var index = view.startIndex + end
        while index < view.endIndex, view[index] == UInt8(ascii: " ") || view[index] == UInt8(ascii: ",") || view[index] == 0x0A || view[index] == 0x0D || view[index] == 0x09 {
            index += 1
        }
        rest.writeBytes(view[index...])
        self.init(json: rest, attachments: attachments)
    }

    /// The number of arguments.
    public var count: Int {
        (try? decode([SkipValue].self).count) ?? 0
    }

    /// Decodes the argument at `index`.
    ///
    /// - Throws: `DecodingError` when there is no such argument or it does not fit `type`.
    public func decode<T: Decodable>(_ type: T.Type, at index: Int) throws -> T {
        let decoder = makeDecoder()
        decoder.userInfo[argumentIndexKey] = index
        return try decoder.decode(ArgumentIndex<T>.self, from: Data(json.readableBytesView)).value
    }

    /// Decodes the whole argument list as one value (an array, or a type that reads an
    /// unkeyed container).
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try makeDecoder().decode(T.self, from: Data(json.readableBytesView))
    }

    /// The arguments as JSON text.
    public var jsonText: String { String(buffer: json) }

    private func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        let attachments = self.attachments
        decoder.dataDecodingStrategy = .custom { decoder in
            if let placeholder = try? decoder.container(keyedBy: PlaceholderKey.self),
                try placeholder.decodeIfPresent(Bool.self, forKey: .placeholder) == true
            {
                let number = try placeholder.decode(Int.self, forKey: .num)
                guard attachments.indices.contains(number) else {
                    throw DecodingError.dataCorruptedError(forKey: .num, in: placeholder, debugDescription: "no attachment \(number)")
                }
                return Data(attachments[number].readableBytesView)
            }
            // Clients that cannot send binary may send base64 text instead.
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let data = Data(base64Encoded: text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a binary placeholder or base64"))
            }
            return data
        }
        return decoder
    }
}

private enum PlaceholderKey: String, CodingKey {
    case placeholder = "_placeholder"
    case num
}

private let argumentIndexKey = CodingUserInfoKey(rawValue: "parley.argumentIndex")!

/// Decodes one element of a JSON array, chosen by the decoder's `userInfo`.
private struct ArgumentIndex<T: Decodable>: Decodable {
    let value: T

    init(from decoder: any Decoder) throws {
        let index = decoder.userInfo[argumentIndexKey] as? Int ?? 0
        var container = try decoder.unkeyedContainer()
        for _ in 0..<index { _ = try container.decode(SkipValue.self) }
        value = try container.decode(T.self)
    }
}

/// Accepts any JSON value and keeps nothing.
struct SkipValue: Decodable {
    init(from decoder: any Decoder) throws {}
}

/// Encodes emit arguments into a Socket.IO payload, turning every `Data` into a binary
/// attachment with a placeholder (`Protocol/socket.md` § Binary attachments).
public enum SocketPayloadEncoder {
    /// The JSON array `[name, arg...]` (or `[arg...]` without a name) and its attachments.
    ///
    /// - Throws: `EncodingError` when an argument cannot be encoded.
    public static func encode(name: String?, arguments: [any Encodable]) throws -> (payload: ByteBuffer, attachments: [ByteBuffer]) {
        if arguments.isEmpty {
            // An ack without arguments, an event without them: no encoder needed.
            var payload = ByteBuffer()
            payload.writeStaticString("[")
            if let name { payload.writeJSONString(name) }
            payload.writeStaticString("]")
            return (payload, [])
        }
        let collector = AttachmentCollector()
        let encoder = JSONEncoder()
        // Sorted keys make the bytes of one value the same every time (tests, caches, dedup).
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        encoder.dataEncodingStrategy = .custom { data, encoder in
            let number = collector.append(data)
            var container = encoder.container(keyedBy: PlaceholderKey.self)
            try container.encode(true, forKey: .placeholder)
            try container.encode(number, forKey: .num)
        }
        let data = try encoder.encode(ArgumentList(name: name, arguments: arguments))
        return (ByteBuffer(bytes: data), collector.attachments)
    }
}

private struct ArgumentList: Encodable {
    let name: String?
    let arguments: [any Encodable]

    func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        if let name { try container.encode(name) }
        for argument in arguments { try container.encode(argument) }
    }
}

/// Gathers attachments while one payload is encoded.
private final class AttachmentCollector: Sendable {
    private let buffers = Mutex<[ByteBuffer]>([])

    func append(_ data: Data) -> Int {
        buffers.withLock { buffers in
            buffers.append(ByteBuffer(bytes: data))
            return buffers.count - 1
        }
    }

    var attachments: [ByteBuffer] { buffers.withLock { $0 } }
}

extension SocketArguments {
    /// The arguments without the first `count` (binary attachments are kept whole, so the
    /// remaining placeholders still point at theirs).
    public func dropFirst(_ count: Int = 1) -> SocketArguments {
        var result = self
        for _ in 0..<max(0, count) {
            result = SocketArguments(eventPayload: result.json, attachments: attachments)
        }
        return result
    }

    /// The payload of an event named `name` carrying these arguments: `["name",arg...]`, built
    /// from the bytes as they are (nothing is decoded or re-encoded).
    public func eventPayload(name: String) -> ByteBuffer {
        var inner = json.readableBytesView[...]
        while let first = inner.first, first != UInt8(ascii: "[") { inner = inner.dropFirst() }
        while let last = inner.last, last != UInt8(ascii: "]") { inner = inner.dropLast() }
        inner = inner.dropFirst().dropLast()
        let isEmpty = inner.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
        var payload = ByteBuffer()
        payload.reserveCapacity(name.utf8.count + inner.count + 4)
        payload.writeInteger(UInt8(ascii: "["))
        payload.writeJSONString(name)
        if !isEmpty {
            payload.writeInteger(UInt8(ascii: ","))
            payload.writeBytes(inner)
        }
        payload.writeInteger(UInt8(ascii: "]"))
        return payload
    }
}
