import NIOCore
import ParleyProtocol
import Synchronization

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

    /// Sends an event to every selected socket. The packet is encoded once and the same bytes
    /// go to each recipient, grouped by event loop.
    public func emit(_ event: String, _ arguments: any Encodable & Sendable...) throws {
        let packet = try Socket.eventPacket(event, arguments, namespace: namespace.name, ackID: nil)
        deliver(EncodedPacket(packet), to: namespace.recipients(of: self))
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
        deliver(EncodedPacket(packet), to: namespace.recipients(of: self))
    }

    /// Sends an event to every selected socket and collects each one's acknowledgement.
    ///
    /// - Returns: one answer per recipient, in no particular order.
    /// - Throws: ``AckTimeoutError`` listing the sockets that did not answer in time (with the
    ///   answers that did arrive).
    public func emitWithAck(_ event: String, _ arguments: any Encodable & Sendable...) async throws -> [SocketAck] {
        let recipients = namespace.recipients(of: self)
        guard !recipients.isEmpty else { return [] }
        let id = namespace.nextAckID()
        let encoded = EncodedPacket(try Socket.eventPacket(event, arguments, namespace: namespace.name, ackID: id))
        let timeout = ackTimeout ?? .seconds(10)
        let collected = Mutex<(answers: [SocketAck], missing: [String], pending: Int)>(([], [], recipients.count))
        return try await withCheckedThrowingContinuation { continuation in
            for socket in recipients {
                socket.expectAck(id, timeout: timeout) { result in
                    let outcome = collected.withLock { collected -> (answers: [SocketAck], missing: [String])? in
                        switch result {
                        case .success(let arguments): collected.answers.append(SocketAck(socketID: socket.id, arguments: arguments))
                        case .failure: collected.missing.append(socket.id)
                        }
                        collected.pending -= 1
                        return collected.pending == 0 ? (collected.answers, collected.missing) : nil
                    }
                    guard let outcome else { return }
                    if outcome.missing.isEmpty {
                        continuation.resume(returning: outcome.answers)
                    } else {
                        continuation.resume(throwing: AckTimeoutError(event: event, missing: outcome.missing.sorted(), received: outcome.answers))
                    }
                }
            }
            deliver(encoded, to: recipients)
        }
    }

    /// The selected sockets.
    public func fetchSockets() -> [Socket] {
        namespace.recipients(of: self)
    }

    /// Makes every selected socket join `rooms`.
    public func socketsJoin(_ rooms: String...) {
        for socket in fetchSockets() { namespace.join(socket.id, rooms) }
    }

    /// Makes every selected socket leave `rooms`.
    public func socketsLeave(_ rooms: String...) {
        for socket in fetchSockets() {
            for room in rooms { namespace.leave(socket.id, room) }
        }
    }

    /// Disconnects every selected socket (`server namespace disconnect`).
    ///
    /// - Parameter close: also close each one's whole connection.
    public func disconnectSockets(close: Bool = false) {
        for socket in fetchSockets() { socket.disconnect(close: close) }
    }

    /// Writes one encoded packet to many sockets: one hop per event loop, not per socket.
    func deliver(_ packet: EncodedPacket, to sockets: [Socket]) {
        var byLoop: [ObjectIdentifier: (loop: any EventLoop, sockets: [Socket])] = [:]
        for socket in sockets {
            let loop = socket.eventLoop
            byLoop[ObjectIdentifier(loop), default: (loop, [])].sockets.append(socket)
        }
        let volatile = isVolatile
        for (_, group) in byLoop {
            let write: @Sendable () -> Void = {
                for socket in group.sockets { socket.write(packet, volatile: volatile) }
            }
            if group.loop.inEventLoop { write() } else { group.loop.execute(write) }
        }
    }
}
