import NIOCore
import ParleyProtocol

/// Selects sockets of a namespace and acts on them: the one place where `to`, `except`,
/// `volatile` and `timeout` are implemented. The server, a namespace and a socket hand it out.
///
/// ```swift
/// try server.to("room-1").except("muted").emit("news", headline)
/// let answers = try await namespace.broadcast.timeout(.seconds(2)).emitWithAck("ready?")
/// ```
public struct BroadcastOperator: Sendable {
    let namespace: Namespace
    var rooms: Set<String> = []
    var exceptRooms: Set<String> = []
    var exceptSocket: String?
    var isVolatile = false
    var ackTimeout: Duration?

    init(namespace: Namespace, exceptSocket: String? = nil) {
        self.namespace = namespace
        self.exceptSocket = exceptSocket
    }

    /// Narrows to sockets in any of `rooms` (adds to earlier `to` rooms).
    public func to(_ rooms: String...) -> BroadcastOperator { to(rooms) }

    /// Narrows to sockets in any of `rooms` (adds to earlier `to` rooms).
    public func to(_ rooms: [String]) -> BroadcastOperator {
        var copy = self
        copy.rooms.formUnion(rooms)
        return copy
    }

    /// Leaves out sockets in any of `rooms`.
    public func except(_ rooms: String...) -> BroadcastOperator { except(rooms) }

    /// Leaves out sockets in any of `rooms`.
    public func except(_ rooms: [String]) -> BroadcastOperator {
        var copy = self
        copy.exceptRooms.formUnion(rooms)
        return copy
    }

    /// Drops the event for each recipient whose connection cannot take it at once.
    public var volatile: BroadcastOperator {
        var copy = self
        copy.isVolatile = true
        return copy
    }

    /// Sets how long ``emitWithAck(_:_:)`` waits for every recipient.
    public func timeout(_ timeout: Duration) -> BroadcastOperator {
        var copy = self
        copy.ackTimeout = timeout
        return copy
    }

    /// The sockets this operator selects, as the adapter takes them.
    var selection: BroadcastSelection {
        BroadcastSelection(rooms: rooms, exceptRooms: exceptRooms, exceptSocket: exceptSocket)
    }

    /// Sends an event to every selected socket. The packet is encoded once and the same bytes
    /// go to each recipient, grouped by event loop.
    public func emit(_ event: String, _ arguments: any Encodable & Sendable...) throws {
        let packet = try Socket.eventPacket(event, arguments, namespace: namespace.name, ackID: nil)
        namespace.adapter.broadcast(packet, to: selection, volatile: isVolatile)
    }

    /// Sends an event whose arguments are already encoded (e.g. received from a client) to
    /// every selected socket, without decoding or re-encoding them.
    public func emit(_ event: String, arguments: SocketArguments) {
        let packet = SocketPacket(
            type: arguments.attachments.isEmpty ? .event : .binaryEvent,
            namespace: namespace.name,
            payload: arguments.eventPayload(name: event),
            attachments: arguments.attachments
        )
        namespace.adapter.broadcast(packet, to: selection, volatile: isVolatile)
    }

    /// Sends an event to every selected socket and collects each one's acknowledgement.
    ///
    /// - Returns: one answer per recipient, in no particular order.
    /// - Throws: ``AckTimeoutError`` listing the sockets that did not answer in time (with the
    ///   answers that did arrive).
    public func emitWithAck(_ event: String, _ arguments: any Encodable & Sendable...) async throws -> [SocketAck] {
        let id = namespace.nextAckID()
        let packet = try Socket.eventPacket(event, arguments, namespace: namespace.name, ackID: id)
        return try await namespace.adapter.broadcastWithAck(event, packet, to: selection, volatile: isVolatile, timeout: ackTimeout ?? .seconds(10))
    }

    /// The selected sockets.
    public func fetchSockets() async -> [Socket] {
        await namespace.adapter.fetchSockets(selection)
    }

    /// Makes every selected socket join `rooms`.
    public func socketsJoin(_ rooms: String...) async {
        await namespace.adapter.socketsJoin(selection, rooms)
    }

    /// Makes every selected socket leave `rooms`.
    public func socketsLeave(_ rooms: String...) async {
        await namespace.adapter.socketsLeave(selection, rooms)
    }

    /// Disconnects every selected socket (`server namespace disconnect`).
    ///
    /// - Parameter close: also close each one's whole connection.
    public func disconnectSockets(close: Bool = false) async {
        await namespace.adapter.disconnectSockets(selection, close: close)
    }
}
