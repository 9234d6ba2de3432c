import Foundation
import NIOCore
public import ParleyProtocol
import Synchronization

/// One event a client emitted, with lazily decoded arguments and, when the client asked for
/// one, a way to acknowledge it.
///
/// ```swift
/// socket.on("chat") { event in
///     let message = try event.argument(0, as: ChatMessage.self)
///     try event.ack("received")
/// }
/// ```
public struct SocketEvent: Sendable {
    /// The socket that received the event.
    public let socket: Socket
    /// The event name.
    public let name: String
    /// The event's arguments (the name excluded), decoded on demand.
    public let arguments: SocketArguments
    let reply: AckReply?

    /// Whether the client waits for an acknowledgement.
    public var expectsAck: Bool { reply != nil }

    /// Decodes the argument at `index`.
    public func argument<T: Decodable>(_ index: Int = 0, as type: T.Type = T.self) throws -> T {
        try arguments.decode(type, at: index)
    }

    /// Acknowledges the event with `values` as the ack's arguments. Only the first call sends;
    /// an event without an ack id ignores it.
    ///
    /// - Throws: `EncodingError` when a value cannot be encoded.
    public func ack(_ values: any Encodable & Sendable...) throws {
        try ack(values: values)
    }

    /// Acknowledges the event with `values` as the ack's arguments (the array form of
    /// ``ack(_:)``).
    public func ack(contentsOf values: [any Encodable & Sendable]) throws {
        try ack(values: values)
    }

    /// Acknowledges the event with arguments as they are, without decoding or re-encoding
    /// them — e.g. `event.ack(arguments: event.arguments)` echoes byte for byte.
    public func ack(arguments: SocketArguments) {
        guard let reply, reply.claim() else { return }
        send(payload: arguments.json, attachments: arguments.attachments, reply: reply)
    }

    func ack(values: [any Encodable & Sendable]) throws {
        guard let reply, reply.claim() else { return }
        let (payload, attachments) = try SocketPayloadEncoder.encode(name: nil, arguments: values)
        send(payload: payload, attachments: attachments, reply: reply)
    }

    private func send(payload: ByteBuffer, attachments: [ByteBuffer], reply: AckReply) {
        if let capture = reply.capture {
            capture(payload, attachments)
            return
        }
        let packet = SocketPacket(
            type: attachments.isEmpty ? .ack : .binaryAck,
            namespace: socket.namespace.name,
            ackID: reply.id,
            payload: payload,
            attachments: attachments
        )
        socket.write(EncodedPacket(packet), volatile: false)
    }
}

/// The ack id of one event, answered at most once.
final class AckReply: Sendable {
    let id: UInt64
    /// Takes the answer instead of sending it (an event with an idempotency key, whose answer
    /// is persisted first).
    let capture: (@Sendable (ByteBuffer, [ByteBuffer]) -> Void)?
    private let answered = Atomic<Bool>(false)

    init(id: UInt64, capture: (@Sendable (ByteBuffer, [ByteBuffer]) -> Void)? = nil) {
        self.id = id
        self.capture = capture
    }

    /// `true` for the first caller only.
    func claim() -> Bool {
        answered.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }
}

/// One answer to an `emitWithAck`.
public struct SocketAck: Sendable {
    /// The socket that answered.
    public let socketID: String
    /// The ack's arguments.
    public let arguments: SocketArguments
}

/// A socket packet encoded once, ready to be written to any number of sessions: the text is
/// written straight into the engine's WebSocket frame, and each attachment framed once.
struct EncodedPacket: Sendable {
    let text: PreparedMessage
    let attachments: [PreparedMessage]
    /// The packet's position in the recovery log, when it was logged.
    var sequence: UInt64?

    init(_ packet: SocketPacket, sequence: UInt64? = nil) {
        self.text = PreparedMessage(text: SocketPacketEncoder.textLength(of: packet)) { buffer in
            SocketPacketEncoder.encode(packet, into: &buffer)
        }
        self.attachments = packet.attachments.map { PreparedMessage(.binary($0)) }
        self.sequence = sequence
    }

    /// A packet as a log kept it: its text and attachments, already encoded.
    init(text: ByteBuffer, attachments: [ByteBuffer], sequence: UInt64?) {
        self.text = PreparedMessage(.text(text))
        self.attachments = attachments.map { PreparedMessage(.binary($0)) }
        self.sequence = sequence
    }

    /// The packet's text, as a log keeps it.
    var textBytes: ByteBuffer {
        guard case .text(let bytes) = text.message else { return ByteBuffer() }
        return bytes
    }
}
