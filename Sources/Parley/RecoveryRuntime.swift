import Logging
import ParleyProtocol
import ParleyStore
import Synchronization
import NIOConcurrencyHelpers

/// The server-wide part of connection state recovery: the configuration, the log once the
/// server has opened its store, and the data of disconnected sockets as it was (for recovery
/// within this process; the store keeps what can be encoded, for recovery after a restart).
final class RecoveryRuntime: Sendable {
    let configuration: ConnectionStateRecovery
    private let opened = NIOLockedValueBox<RecoveryLog?>(nil)
    private let liveData = NIOLockedValueBox<[String: (values: [String: any Sendable], leftAt: Int64)]>([:])
    private let logger: Logger

    init(configuration: ConnectionStateRecovery, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// The log; `nil` until the server started.
    var log: RecoveryLog? { opened.withLockedValue { $0 } }

    /// Opens the store (once).
    func open() async throws -> RecoveryLog {
        if let log { return log }
        let log = try await RecoveryLog.open(store: configuration.store, configuration: configuration.log, logger: logger)
        return opened.withLockedValue { opened in
            if let existing = opened { return existing }
            opened = log
            return log
        }
    }

    // MARK: Sessions

    func save(socket: Socket, pid: String, rooms: Set<String>, disconnectedAt: Int64?) {
        guard let log else { return }
        let json = socket.data.encodedSnapshot()
        let values = socket.data.all
        if let disconnectedAt, !values.isEmpty {
            liveData.withLockedValue { table in
                table[pid] = (values, disconnectedAt)
                // Entries of sessions never taken back go once they could no longer be.
                if table.count.isMultiple(of: 256) {
                    let horizon = disconnectedAt - configuration.maxDisconnectionDuration.wholeMilliseconds
                    table = table.filter { $0.value.leftAt >= horizon }
                }
            }
        }
        log.save(SessionRecord(
            pid: pid,
            socketID: socket.id,
            namespace: socket.namespace.name,
            rooms: rooms.filter { $0 != socket.id }.sorted(),
            data: json,
            disconnectedAtMilliseconds: disconnectedAt
        ))
    }

    func removeSession(pid: String) {
        log?.removeSession(pid: pid)
        liveData.withLockedValue { _ = $0.removeValue(forKey: pid) }
    }

    /// Takes back the session `pid` of `namespace` if it is still recoverable, with the
    /// values of its data kept in memory.
    func takeSession(pid: String, namespace: String) async -> (SessionRecord, [String: any Sendable])? {
        guard let log else { return nil }
        do {
            guard let session = try await log.takeSession(pid: pid, maxAge: configuration.maxDisconnectionDuration) else { return nil }
            let kept = liveData.withLockedValue { $0.removeValue(forKey: pid)?.values } ?? [:]
            guard session.namespace == namespace else { return nil }
            return (session, kept)
        } catch {
            logger.error("recovery store failed while restoring a session", metadata: ["parley.error": "\(error)"])
            return nil
        }
    }

    /// The packets a socket in `rooms` missed since `offset`; `nil` when it cannot be told.
    func replay(namespace: String, after offset: RecoveryOffset, rooms: Set<String>) async -> [LogEntry]? {
        guard let log else { return nil }
        do {
            let limit = configuration.maxReplayPackets
            switch try await log.replay(namespace: namespace, after: offset, rooms: rooms, limit: limit + 1) {
            case .expired: return nil
            case .entries(let entries): return entries.count > limit ? nil : entries
            }
        } catch {
            logger.error("recovery store failed while replaying", metadata: ["parley.error": "\(error)"])
            return nil
        }
    }
}
