import Foundation
import GRDB
import NIOCore
public import ParleyStore

/// Commits, replays and retention.
extension SQLiteRecoveryStore {
    /// Applies the batch in one write transaction.
    ///
    /// - Throws: ``StoreError``; nothing of the batch is kept then.
    public func commit(_ batch: RecoveryBatch) async throws {
        try await file.withPool("commit") { pool in
            guard !batch.isEmpty else { return }
            try await pool.write { db in try Self.apply(batch, to: db) }
        }
    }

    private static func apply(_ batch: RecoveryBatch, to db: Database) throws {
        if !batch.entries.isEmpty {
            let insert = try db.cachedStatement(sql: """
                INSERT INTO log_entry (sequence, namespace, time, size, rooms, except_rooms, packet, attachments)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
            var bytes = 0
            for entry in batch.entries {
                guard let sequence = Int64(exactly: entry.sequence) else {
                    throw StoreError(.ioFailure, detail: "sequence \(entry.sequence) beyond what SQLite stores")
                }
                let size = entry.byteCount
                bytes += size
                try insert.execute(arguments: [
                    sequence, entry.namespace, entry.timeMilliseconds, size,
                    ColumnCoding.encodeRooms(entry.rooms), ColumnCoding.encodeRooms(entry.exceptRooms),
                    ColumnCoding.encodeBuffer(entry.packet), ColumnCoding.encodeAttachments(entry.attachments),
                ])
            }
            try addToMeta(db, .entryCount, Int64(batch.entries.count))
            try addToMeta(db, .entryBytes, Int64(bytes))
        }
        if !batch.sessions.isEmpty {
            let upsert = try db.cachedStatement(sql: """
                INSERT OR REPLACE INTO session (pid, socket_id, namespace, rooms, data, disconnected_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """)
            for session in batch.sessions {
                try upsert.execute(arguments: [
                    session.pid, session.socketID, session.namespace, ColumnCoding.encodeRooms(session.rooms),
                    Data(session.data), session.disconnectedAtMilliseconds,
                ])
            }
        }
        if !batch.removedSessions.isEmpty {
            let delete = try db.cachedStatement(sql: "DELETE FROM session WHERE pid = ?")
            for pid in batch.removedSessions { try delete.execute(arguments: [pid]) }
        }
    }

    /// The entries of `namespace` after `sequence` addressed to a socket in `rooms`, read in
    /// one snapshot that a commit in progress does not block.
    public func replay(namespace: String, after sequence: UInt64, rooms: Set<String>, limit: Int) async throws -> Replay {
        try await file.withPool("replay") { pool in
            try await pool.read { db in try Self.replay(db, namespace: namespace, after: sequence, rooms: rooms, limit: limit) }
        }
    }

    private static func replay(_ db: Database, namespace: String, after sequence: UInt64, rooms: Set<String>, limit: Int) throws -> Replay {
        guard sequence >= UInt64(clamping: try meta(db, .trimmedThrough)) else { return .expired }
        guard limit > 0 else { return .entries([]) }
        let select = try db.cachedStatement(sql: """
            SELECT sequence, time, rooms, except_rooms, packet, attachments FROM log_entry
            WHERE sequence > ? AND namespace = ? ORDER BY sequence
            """)
        let rows = try Row.fetchCursor(select, arguments: [Int64(clamping: sequence), namespace])
        var selected: [LogEntry] = []
        while let row = try rows.next() {
            var entry = try LogEntry(
                sequence: UInt64(row.decode(Int64.self, atIndex: 0)),
                namespace: namespace,
                rooms: ColumnCoding.decodeRooms(row.decode(String?.self, atIndex: 2)),
                exceptRooms: ColumnCoding.decodeRooms(row.decode(String?.self, atIndex: 3)),
                packet: ByteBuffer(),
                timeMilliseconds: row.decode(Int64.self, atIndex: 1)
            )
            guard entry.isAddressed(to: rooms) else { continue }
            entry.packet = try row.withUnsafeData(atIndex: 4) { $0.map { ByteBuffer(bytes: $0) } } ?? ByteBuffer()
            guard let attachments = try row.withUnsafeData(atIndex: 5, ColumnCoding.decodeAttachments) else {
                throw StoreError(.corrupt, detail: "damaged attachments in entry \(entry.sequence)")
            }
            entry.attachments = attachments
            selected.append(entry)
            if selected.count == limit { break }
        }
        return .entries(selected)
    }

    /// Removes, oldest first, the entries that are too old or beyond the count or byte
    /// bounds, and the sessions disconnected before the cut, in one write transaction.
    public func trim(_ cut: RetentionCut) async throws -> TrimResult {
        try await file.withPool("trim") { pool in
            try await pool.write { db in try Self.trim(db, cut) }
        }
    }

    private static func trim(_ db: Database, _ cut: RetentionCut) throws -> TrimResult {
        var count = try meta(db, .entryCount)
        var bytes = try meta(db, .entryBytes)
        let maxEntries = Int64(clamping: cut.maxEntries)
        let maxBytes = Int64(clamping: cut.maxBytes)
        var removed: Int64 = 0
        var removedBytes: Int64 = 0
        var lastRemoved: Int64?
        // The cut is a prefix of the log in sequence order; the walk stops at the first entry
        // kept, so a pass costs what it removes, not the size of the log.
        do {
            let rows = try Row.fetchCursor(db, sql: "SELECT sequence, time, size FROM log_entry ORDER BY sequence")
            while let row = try rows.next() {
                let time = try row.decode(Int64.self, atIndex: 1)
                guard time < cut.entriesBeforeMilliseconds || count > maxEntries || bytes > maxBytes else { break }
                let size = try row.decode(Int64.self, atIndex: 2)
                lastRemoved = try row.decode(Int64.self, atIndex: 0)
                count -= 1
                bytes -= size
                removed += 1
                removedBytes += size
            }
        }
        if let lastRemoved {
            try db.execute(sql: "DELETE FROM log_entry WHERE sequence <= ?", arguments: [lastRemoved])
            try addToMeta(db, .entryCount, -removed)
            try addToMeta(db, .entryBytes, -removedBytes)
            try setMeta(db, .trimmedThrough, max(lastRemoved, meta(db, .trimmedThrough)))
        }
        try db.execute(sql: "DELETE FROM session WHERE disconnected_at < ?", arguments: [cut.sessionsDisconnectedBeforeMilliseconds])
        return TrimResult(entries: Int(removed), sessions: db.changesCount)
    }

    /// Removes and returns the session `pid` in one write transaction.
    public func takeSession(pid: String) async throws -> SessionRecord? {
        try await file.withPool("takeSession") { pool in
            try await pool.write { db -> SessionRecord? in
                let select = try db.cachedStatement(sql: """
                    SELECT socket_id, namespace, rooms, data, disconnected_at FROM session WHERE pid = ?
                    """)
                guard let row = try Row.fetchOne(select, arguments: [pid]) else { return nil }
                try db.cachedStatement(sql: "DELETE FROM session WHERE pid = ?").execute(arguments: [pid])
                return try SessionRecord(
                    pid: pid,
                    socketID: row.decode(String.self, atIndex: 0),
                    namespace: row.decode(String.self, atIndex: 1),
                    rooms: ColumnCoding.decodeRooms(row.decode(String?.self, atIndex: 2)),
                    data: row.withUnsafeData(atIndex: 3) { $0.map(Array.init) } ?? [],
                    disconnectedAtMilliseconds: row.decode(Int64?.self, atIndex: 4)
                )
            }
        }
    }
}
