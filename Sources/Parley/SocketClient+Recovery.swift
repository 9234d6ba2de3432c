import Foundation
import Logging
import NIOCore
import ParleyProtocol
import ParleyStore
import Synchronization

/// Connection state recovery on the server (`Protocol/recovery.md` § 5): a CONNECT that
/// presents a `pid` and an `offset` gets its socket back with the packets it missed, or, if
/// that is impossible for any reason, a fresh socket — never an error.
extension SocketClient {
    /// Takes back the session the CONNECT names. Runs as a tracked task.
    func recover(_ claim: RecoveryClaim, _ target: NamespaceTarget, _ handshake: SocketHandshake, _ recovery: RecoveryRuntime) async {
        let name = handshake.namespace
        let skipMiddlewares = recovery.configuration.skipMiddlewares
        if !skipMiddlewares, let (message, data) = await runMiddlewares(target.middlewareSource.middlewares, handshake) {
            onLoop { client in
                client.connecting.remove(name)
                guard !client.closed else { return }
                client.refuse(name, message: message, data: data)
            }
            return
        }
        guard let offset = RecoveryOffset(claim.offset), let log = recovery.log, offset.epoch == log.epoch,
            let (session, kept) = await takeSession(claim.pid, target: target, name: name, recovery: recovery)
        else {
            connectFresh(target, handshake, middlewaresRan: !skipMiddlewares)
            return
        }
        // The socket joins its rooms first and holds what is sent to it live; the replay read
        // afterwards then misses nothing, and what it also holds is written once.
        let placed = try? await transport.eventLoop.submit { [self] () -> Socket? in
            connecting.remove(name)
            guard !closed else { return nil }
            let data = SocketData(restoring: session.data, kept: kept)
            guard let (namespace, socket) = place(target, name, { Socket(namespace: $0, handshake: handshake, client: self, restoring: session, data: data) }) else { return nil }
            namespace.local.join(socket.id, session.rooms)
            sockets[name] = socket
            connectTimer?.cancel()
            connectTimer = nil
            return socket
        }.get()
        guard let socket = placed ?? nil else { return }
        let missed = await recovery.replay(namespace: name, after: offset, rooms: socket.rooms)
        onLoop { client in client.finishRecovery(socket, missed: missed, target: target, handshake: handshake, middlewaresRan: !skipMiddlewares) }
    }

    /// The session `pid`, from the store; or, when its socket still looks connected here (the
    /// server has not noticed yet that its connection is gone, as with a long-poll whose client
    /// moved on), the session of that socket, which the presenter of its `pid` takes over: the
    /// old connection is closed as lost (`transport close`).
    private func takeSession(_ pid: String, target: NamespaceTarget, name: String, recovery: RecoveryRuntime) async -> (SessionRecord, [String: any Sendable])? {
        if let taken = await recovery.takeSession(pid: pid, namespace: name) { return taken }
        guard case .existing(let namespace) = target, let stale = namespace.recovering?.socket(pid: pid), stale.client !== self else { return nil }
        let closed: Void? = try? await stale.eventLoop.submit {
            stale.client.close(
                EngineCloseReason(.transportClose, detail: "taken over by a recovering connection"),
                socketReason: SocketDisconnectReason(.transportClose, detail: "taken over by a recovering connection")
            )
        }.get()
        guard closed != nil else { return nil }
        return await recovery.takeSession(pid: pid, namespace: name)
    }

    /// Writes the missed packets, then the CONNECT reply, then what arrived live meanwhile;
    /// or, when the packets cannot be told, drops the socket unseen and connects afresh.
    private func finishRecovery(_ socket: Socket, missed: [LogEntry]?, target: NamespaceTarget, handshake: SocketHandshake, middlewaresRan: Bool) {
        guard socket.isConnected, sockets[socket.namespace.name] === socket else { return }
        guard let missed else {
            sockets[socket.namespace.name] = nil
            socket.state.withLock { $0.connected = false }
            socket.namespace.remove(socket)
            logger.debug("recovery impossible: offset expired or unknown", metadata: ["parley.nsp": "\(socket.namespace.name)"])
            connectFresh(target, handshake, middlewaresRan: middlewaresRan)
            return
        }
        var replayed = Set<UInt64>()
        replayed.reserveCapacity(missed.count)
        for entry in missed {
            replayed.insert(entry.sequence)
            socket.writeNow(EncodedPacket(text: entry.packet, attachments: entry.attachments, sequence: entry.sequence), volatile: false)
        }
        socket.writeNow(connectReply(socket), volatile: false)
        let held = socket.state.withLock { state in
            socket.isHolding.store(false, ordering: .releasing)
            defer { state.held = [] }
            return state.held
        }
        for packet in held where packet.sequence.map({ !replayed.contains($0) }) ?? true {
            socket.writeNow(packet, volatile: false)
        }
        logger.debug(
            "socket recovered",
            metadata: ["parley.nsp": "\(socket.namespace.name)", "parley.socket": "\(socket.id)", "parley.replayed": "\(missed.count)"]
        )
        runConnectionHandlers(socket)
    }

    /// Connects as if no recovery had been asked for.
    private func connectFresh(_ target: NamespaceTarget, _ handshake: SocketHandshake, middlewaresRan: Bool) {
        onLoop { client in
            client.connecting.remove(handshake.namespace)
            guard !client.closed, client.sockets[handshake.namespace] == nil else { return }
            if middlewaresRan {
                client.accept(target, handshake)
            } else {
                client.admit(target, handshake)
            }
        }
    }
}

/// The recovery fields of a CONNECT payload: `pid` and `offset`, both strings.
struct RecoveryClaim: Sendable {
    let pid: String
    let offset: String

    init?(_ auth: ByteBuffer?) {
        guard let auth, auth.readableBytes <= 64 * 1024,
            let object = try? JSONSerialization.jsonObject(with: Data(auth.readableBytesView)) as? [String: Any],
            let pid = object["pid"] as? String, let offset = object["offset"] as? String
        else { return nil }
        self.pid = pid
        self.offset = offset
    }
}
