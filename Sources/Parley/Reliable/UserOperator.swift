public import ParleyProtocol
public import ParleyStore

/// Every socket of one user in a namespace, connected or not: plain emits reach the connected
/// ones, reliable emits go through the user's queue (`Protocol/reliable.md` § 3).
///
/// ```swift
/// let id = try await server.user("alice").reliable.emit("dm", DirectMessage(from: "bob", text: "hi"))
/// let depth = try await server.user("alice").queueState().messages
/// ```
public struct UserOperator: Sendable {
    /// The namespace.
    public let namespace: Namespace
    /// The user id.
    public let user: String

    /// The user's sockets connected to this node.
    public var sockets: [Socket] { namespace.adapter.sockets(ofUser: user) }

    /// Sends an event to the user's connected sockets only (nothing is kept).
    ///
    /// - Throws: `EncodingError` when an argument cannot be encoded.
    public func emit(_ event: String, _ arguments: any Encodable & Sendable...) throws {
        let packet = try Socket.eventPacket(event, arguments, namespace: namespace.name, ackID: nil)
        for socket in sockets { namespace.adapter.send(packet, to: socket) }
    }

    /// Reliable emits to the user's queue.
    public var reliable: ReliableUserEmitter { ReliableUserEmitter(namespace: namespace, user: user) }

    /// The depth of the user's queue: messages, bytes, the oldest one, the number dropped and
    /// the devices known.
    ///
    /// - Throws: ``ReliableError`` when reliable delivery is off or the store fails.
    public func queueState() async throws -> UserQueueState {
        guard let runtime = namespace.core.reliable else { throw ReliableError.off }
        return try await runtime.state(namespace: namespace.name, user: user)
    }

    /// Disconnects the user's connected sockets.
    public func disconnectSockets(close: Bool = false) {
        for socket in sockets { socket.disconnect(close: close) }
    }
}

/// Reliable emits to one user's queue.
public struct ReliableUserEmitter: Sendable {
    let namespace: Namespace
    let user: String

    /// Queues an event for every device of the user; returns once it is committed.
    ///
    /// - Returns: the message id (`<epoch>.<sequence>`).
    /// - Throws: ``ReliableError`` (`tooLarge`, `queueFull`, `storeFailed`, `notEnabled`);
    ///   `EncodingError` when an argument cannot be encoded. Nothing is queued then.
    @discardableResult
    public func emit(_ event: String, _ arguments: any Encodable & Sendable...) async throws -> String {
        let packet = try Socket.eventPacket(event, arguments, namespace: namespace.name, ackID: nil)
        return try await emit(packet)
    }

    /// Queues an event whose arguments are already encoded (e.g. received from a client).
    @discardableResult
    public func emit(_ event: String, arguments: SocketArguments) async throws -> String {
        let packet = SocketPacket(
            type: arguments.attachments.isEmpty ? .event : .binaryEvent,
            namespace: namespace.name,
            payload: arguments.eventPayload(name: event),
            attachments: arguments.attachments
        )
        return try await emit(packet)
    }

    private func emit(_ packet: SocketPacket) async throws -> String {
        guard let runtime = namespace.core.reliable else { throw ReliableError.off }
        return try await runtime.enqueue(packet, namespace: namespace.name, user: user)
    }
}

/// Reliable emits to one room's history (`Protocol/reliable.md` § 4).
public struct ReliableRoomEmitter: Sendable {
    let broadcast: BroadcastOperator

    /// Appends an event to the room's history and sends it to the room's members; returns once
    /// it is committed.
    ///
    /// - Returns: the message's room offset (`<epoch>.<n>`).
    /// - Throws: ``ReliableError`` (`unsupported` unless the operator names exactly one room
    ///   — `socket.to(room)` leaves the sender out of the live delivery, the history keeps
    ///   the message for everyone — or with `except`, `volatile` or binary arguments;
    ///   `tooLarge`, `storeFailed`, `notEnabled`).
    @discardableResult
    public func emit(_ event: String, _ arguments: any Encodable & Sendable...) async throws -> String {
        let namespace = broadcast.namespace
        guard let runtime = namespace.core.reliable else { throw ReliableError.off }
        guard broadcast.rooms.count == 1, let room = broadcast.rooms.first, broadcast.exceptRooms.isEmpty,
            !broadcast.isVolatile
        else {
            throw ReliableError(.unsupported, detail: "a reliable room emit names exactly one room, without except or volatile")
        }
        let packet = try Socket.eventPacket(event, arguments, namespace: namespace.name, ackID: nil)
        return try await runtime.append(packet, namespace: namespace.name, room: room, exceptSocket: broadcast.exceptSocket)
    }
}

extension BroadcastOperator {
    /// Reliable emits to the one room this operator names: kept in the room's history.
    public var reliable: ReliableRoomEmitter { ReliableRoomEmitter(broadcast: self) }
}

extension Namespace {
    /// Every socket of `user` in this namespace, and the user's reliable queue.
    public func user(_ user: String) -> UserOperator {
        UserOperator(namespace: self, user: user)
    }
}

extension SocketServer {
    /// Every socket of `user` in the main namespace `/`, and the user's reliable queue.
    public func user(_ user: String) -> UserOperator {
        of("/").user(user)
    }
}

extension ReliableError {
    static let off = ReliableError(.notEnabled, detail: "reliable delivery is off (SocketServerConfiguration.reliableDelivery)")
}
