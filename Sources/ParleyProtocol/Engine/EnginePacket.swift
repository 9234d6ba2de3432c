/// One Engine.IO v4 packet. See `Protocol/engine.md` § Packet types.
public enum EnginePacket: Sendable, Hashable {
    /// Server → client: the session's handshake.
    case open(EngineHandshake)
    /// Either side: close the session.
    case close
    /// Server → client heartbeat; the client sends `ping("probe")` on a probe WebSocket.
    case ping(String)
    /// Client → server heartbeat answer; the server answers a probe with `pong("probe")`.
    case pong(String)
    /// Application data.
    case message(EngineMessage)
    /// Client → server over the probe WebSocket: switch the session to it.
    case upgrade
    /// Server → client: releases a pending long-poll without data.
    case noop

    /// The packet type digit, `0`–`6`.
    public var typeDigit: UInt8 {
        switch self {
        case .open: UInt8(ascii: "0")
        case .close: UInt8(ascii: "1")
        case .ping: UInt8(ascii: "2")
        case .pong: UInt8(ascii: "3")
        case .message: UInt8(ascii: "4")
        case .upgrade: UInt8(ascii: "5")
        case .noop: UInt8(ascii: "6")
        }
    }
}
