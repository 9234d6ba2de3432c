public import ParleyProtocol
import Synchronization

/// An event the server sent to a client socket, with lazily decoded arguments.
public struct ClientEvent: Sendable {
    /// The event name.
    public let name: String
    /// The arguments (the name excluded).
    public let arguments: SocketArguments
    /// The message id of a reliable per-user message (`Protocol/reliable.md` § 3.2), whose
    /// marker the client took out of ``arguments``. The client acknowledges such a message
    /// itself once the handler returned, and drops repeats of it.
    public let reliableID: String?
    /// The room of a room message with a history offset (live, or from
    /// ``ClientSocket/history(room:limit:)``).
    public let room: String?
    /// The offset of a room message in its room's history (`Protocol/reliable.md` § 4).
    public let roomOffset: String?
    let reply: ClientAckReply?

    init(name: String, arguments: SocketArguments, reply: ClientAckReply?, reliableID: String? = nil, room: String? = nil, roomOffset: String? = nil) {
        self.name = name
        self.arguments = arguments
        self.reply = reply
        self.reliableID = reliableID
        self.room = room
        self.roomOffset = roomOffset
    }

    /// Whether the server waits for an acknowledgement from the application.
    public var expectsAck: Bool { reply != nil }

    /// Decodes the argument at `index`.
    public func argument<T: Decodable>(_ index: Int = 0, as type: T.Type = T.self) throws -> T {
        try arguments.decode(type, at: index)
    }

    /// Acknowledges the event with `values`; only the first call sends.
    public func ack(_ values: any Encodable & Sendable...) throws {
        guard let reply, reply.claim() else { return }
        try reply.send(values)
    }
}

/// Sends the ack of one server event at most once.
final class ClientAckReply: Sendable {
    let id: UInt64
    let socket: ClientSocket
    private let answered = Atomic<Bool>(false)

    init(id: UInt64, socket: ClientSocket) {
        self.id = id
        self.socket = socket
    }

    func claim() -> Bool {
        answered.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }

    func send(_ values: [any Encodable & Sendable]) throws {
        let (payload, attachments) = try SocketPayloadEncoder.encode(name: nil, arguments: values)
        let packet = SocketPacket(
            type: attachments.isEmpty ? .ack : .binaryAck,
            namespace: socket.namespace,
            ackID: id,
            payload: payload,
            attachments: attachments
        )
        socket.manager.send(packet, bypassingBuffer: true)
    }
}

/// What a socket sends in its CONNECT packet.
public enum ClientAuth: Sendable {
    /// Nothing.
    case none
    /// This value (a JSON object).
    case value(any Encodable & Sendable)
    /// The value this closure returns, asked anew on every (re)connect, e.g. to refresh a token.
    case provider(@Sendable () async throws -> (any Encodable & Sendable)?)
}
