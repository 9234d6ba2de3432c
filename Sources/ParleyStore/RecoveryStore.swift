/// Where the recovery log and the recoverable sessions are kept. ``InMemoryRecoveryStore``
/// lives as long as the process; `ParleySQLite` keeps them in a file, across restarts.
///
/// The server never calls a store from an event loop: appends reach it in batches from one
/// writer (``RecoveryLog``), reads from the task that restores a session.
///
/// Semantics every implementation keeps (`Tests/ParleyStoreTests` runs the same suite against
/// each):
/// - ``open(now:)`` returns the store's epoch, which changes only when the store is created
///   anew, and a first sequence above every sequence the store has ever handed out *or could
///   have handed out before a crash*: the server assigns sequences before they are committed.
/// - ``commit(_:)`` applies a whole batch in one transaction, or none of it.
/// - ``replay(namespace:after:rooms:limit:)`` answers ``Replay/expired`` when entries after
///   the position may have been trimmed, so a client is never given a replay with holes.
/// - Sessions still marked connected when the store is opened are treated as disconnected at
///   that moment: the process that held them is gone.
public protocol RecoveryStore: Sendable {
    /// Opens the store, creating it if needed, and prepares it for this process.
    ///
    /// - Throws: ``StoreError`` when the store cannot be used (unwritable, corrupt, written by a
    ///   newer version).
    func open(now: Int64) async throws -> RecoveryStoreState

    /// Applies a batch — entries appended, sessions saved, sessions removed — in one transaction.
    func commit(_ batch: RecoveryBatch) async throws

    /// The entries of `namespace` after `sequence` addressed to a socket in `rooms`, oldest
    /// first, at most `limit` of them.
    func replay(namespace: String, after sequence: UInt64, rooms: Set<String>, limit: Int) async throws -> Replay

    /// Removes and returns the session `pid`, if the store has it.
    func takeSession(pid: String) async throws -> SessionRecord?

    /// Removes entries and disconnected sessions that retention no longer keeps.
    func trim(_ retention: RetentionCut) async throws -> TrimResult

    /// Releases the store's resources; the store is not used afterwards.
    func close() async throws
}

/// What a store tells the server when it opens.
public struct RecoveryStoreState: Sendable, Hashable {
    /// Identifies this log: a store created anew (or replaced) has another epoch, so offsets
    /// handed out by the old one are recognised as foreign.
    public var epoch: String
    /// The sequence of the next entry.
    public var nextSequence: UInt64

    /// Creates a state.
    public init(epoch: String, nextSequence: UInt64) {
        self.epoch = epoch
        self.nextSequence = nextSequence
    }
}

/// A batch of writes applied in one transaction.
public struct RecoveryBatch: Sendable {
    /// Entries to append, in sequence order.
    public var entries: [LogEntry] = []
    /// Sessions to insert or replace, by pid; the last one of a pid wins.
    public var sessions: [SessionRecord] = []
    /// Sessions to remove, by pid (applied after ``sessions``).
    public var removedSessions: [String] = []

    /// Creates an empty batch.
    public init(entries: [LogEntry] = [], sessions: [SessionRecord] = [], removedSessions: [String] = []) {
        self.entries = entries
        self.sessions = sessions
        self.removedSessions = removedSessions
    }

    /// Whether the batch holds nothing.
    public var isEmpty: Bool { entries.isEmpty && sessions.isEmpty && removedSessions.isEmpty }
}

/// The answer to a replay request.
public enum Replay: Sendable, Hashable {
    /// Every retained entry after the position that the rooms select (at most the limit).
    case entries([LogEntry])
    /// Entries after the position may have been trimmed, or the position was never handed
    /// out: recovery from it is impossible.
    case expired
}

/// What retention removes in one pass.
public struct RetentionCut: Sendable, Hashable {
    /// Entries older than this (milliseconds since 1970) go.
    public var entriesBeforeMilliseconds: Int64
    /// Disconnected sessions that left before this go.
    public var sessionsDisconnectedBeforeMilliseconds: Int64
    /// The most entries kept; the oldest beyond it go.
    public var maxEntries: Int
    /// The most bytes of entries kept (``LogEntry/byteCount``); the oldest beyond it go.
    public var maxBytes: Int

    /// Creates a cut.
    public init(entriesBeforeMilliseconds: Int64, sessionsDisconnectedBeforeMilliseconds: Int64, maxEntries: Int, maxBytes: Int) {
        self.entriesBeforeMilliseconds = entriesBeforeMilliseconds
        self.sessionsDisconnectedBeforeMilliseconds = sessionsDisconnectedBeforeMilliseconds
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
    }
}

/// What one retention pass removed.
public struct TrimResult: Sendable, Hashable {
    /// Entries removed.
    public var entries: Int
    /// Sessions removed.
    public var sessions: Int

    /// Creates a result.
    public init(entries: Int, sessions: Int) {
        self.entries = entries
        self.sessions = sessions
    }
}
