import Foundation
public import NIOCore

/// The JSON object of an `open` packet: exactly five fields, in this order on the wire.
///
/// Intervals are advertised in whole milliseconds, exactly as configured (never truncated to
/// seconds). See `Protocol/engine.md` § The open packet.
public struct EngineHandshake: Sendable, Hashable {
    /// The session id; every later request carries it as `sid`.
    public var sid: String
    /// The transports the session may upgrade to (`["websocket"]` for polling, `[]` otherwise).
    public var upgrades: [EngineTransportKind]
    /// How long the server waits after a pong before the next ping.
    public var pingInterval: Duration
    /// How long the server waits for a pong after a ping.
    public var pingTimeout: Duration
    /// The largest payload, in bytes, the server accepts in one message or polling body.
    public var maxPayload: Int

    /// Creates a handshake description.
    public init(sid: String, upgrades: [EngineTransportKind], pingInterval: Duration, pingTimeout: Duration, maxPayload: Int) {
        self.sid = sid
        self.upgrades = upgrades
        self.pingInterval = pingInterval
        self.pingTimeout = pingTimeout
        self.maxPayload = maxPayload
    }

    /// Writes the compact JSON object, fields in wire order.
    public func writeJSON(into buffer: inout ByteBuffer) {
        buffer.writeStaticString("{\"sid\":")
        buffer.writeJSONString(sid)
        buffer.writeStaticString(",\"upgrades\":[")
        for (index, upgrade) in upgrades.enumerated() {
            if index > 0 { buffer.writeStaticString(",") }
            buffer.writeJSONString(upgrade.rawValue)
        }
        buffer.writeStaticString("],\"pingInterval\":")
        buffer.writeString(String(pingInterval.wholeMilliseconds))
        buffer.writeStaticString(",\"pingTimeout\":")
        buffer.writeString(String(pingTimeout.wholeMilliseconds))
        buffer.writeStaticString(",\"maxPayload\":")
        buffer.writeString(String(maxPayload))
        buffer.writeStaticString("}")
    }

    /// Parses the JSON object of an `open` packet.
    ///
    /// - Throws: ``EngineProtocolError/Code/invalidHandshake`` when the JSON is malformed, is not
    ///   an object, or lacks a field or has one of the wrong type.
    public init(json buffer: ByteBuffer) throws(EngineProtocolError) {
        let wire: Wire
        do {
            wire = try JSONDecoder().decode(Wire.self, from: Data(buffer.readableBytesView))
        } catch {
            throw EngineProtocolError(.invalidHandshake, "open packet JSON is not a handshake object")
        }
        var upgrades: [EngineTransportKind] = []
        for name in wire.upgrades {
            // Unknown transport names (e.g. "webtransport") are not ours to use; skip them.
            if let kind = EngineTransportKind(rawValue: name) { upgrades.append(kind) }
        }
        guard !wire.sid.isEmpty, wire.pingInterval >= 0, wire.pingTimeout >= 0, wire.maxPayload >= 0 else {
            throw EngineProtocolError(.invalidHandshake, "empty sid, or a negative interval or payload size")
        }
        // Timer values feed the client's clock arithmetic: refuse what no timer can hold
        // (`Protocol/engine.md` § 3).
        guard wire.pingInterval <= Self.maxTimerMilliseconds, wire.pingTimeout <= Self.maxTimerMilliseconds else {
            throw EngineProtocolError(.invalidHandshake, "pingInterval or pingTimeout above \(Self.maxTimerMilliseconds) ms")
        }
        self.init(
            sid: wire.sid,
            upgrades: upgrades,
            pingInterval: .milliseconds(wire.pingInterval),
            pingTimeout: .milliseconds(wire.pingTimeout),
            maxPayload: wire.maxPayload
        )
    }

    /// The largest `pingInterval` or `pingTimeout` accepted from a peer, in milliseconds:
    /// 2^31 - 1, the longest timer a browser runs (about 24.8 days).
    public static let maxTimerMilliseconds: Int64 = 2_147_483_647

    private struct Wire: Decodable {
        var sid: String
        var upgrades: [String]
        var pingInterval: Int64
        var pingTimeout: Int64
        var maxPayload: Int
    }
}

extension Duration {
    /// The duration in whole milliseconds, rounded down.
    public var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000 + attoseconds / 1_000_000_000_000_000
    }
}

extension ByteBuffer {
    /// Writes `string` as a JSON string literal, escaping what RFC 8259 requires.
    @inlinable
    public mutating func writeJSONString(_ string: String) {
        writeInteger(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): writeStaticString("\\\"")
            case UInt8(ascii: "\\"): writeStaticString("\\\\")
            case 0x0A: writeStaticString("\\n")
            case 0x0D: writeStaticString("\\r")
            case 0x09: writeStaticString("\\t")
            case 0x00..<0x20:
                writeStaticString("\\u00")
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                writeInteger(hex[Int(byte >> 4)])
                writeInteger(hex[Int(byte & 0x0F)])
            default: writeInteger(byte)
            }
        }
        writeInteger(UInt8(ascii: "\""))
    }
}
