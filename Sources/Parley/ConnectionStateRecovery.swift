public import ParleyStore

/// Connection state recovery: a client that lost its connection gets its socket back — the
/// same id, rooms and data — and every packet it missed, in order (`Protocol/recovery.md`).
/// Off by default, as in the reference server.
///
/// With ``InMemoryRecoveryStore`` (the default) recovery works while the server process
/// lives; with `ParleySQLite.SQLiteRecoveryStore` it also works after the process was killed
/// and started again on the same file.
///
/// ```swift
/// var configuration = SocketServerConfiguration()
/// configuration.connectionStateRecovery = ConnectionStateRecovery(
///     store: SQLiteRecoveryStore(path: "data/recovery.sqlite")
/// )
/// ```
public struct ConnectionStateRecovery: Sendable {
    /// How long a socket that lost its connection stays recoverable; packets are kept as long.
    public var maxDisconnectionDuration: Duration {
        didSet { log.maxAge = maxDisconnectionDuration }
    }
    /// Whether a recovered socket skips the namespace's middlewares (the reference's default).
    public var skipMiddlewares: Bool = true
    /// Where packets and sessions are kept.
    public var store: any RecoveryStore
    /// The writer's and retention's settings; ``RecoveryLog/Configuration/maxAge`` follows
    /// ``maxDisconnectionDuration`` unless set after it.
    public var log: RecoveryLog.Configuration
    /// The most packets replayed to one recovering socket; a client that missed more gets a
    /// fresh socket, never a partial replay.
    public var maxReplayPackets: Int = 100_000

    /// Creates a configuration.
    ///
    /// - Parameters:
    ///   - store: where packets and sessions are kept; in memory by default.
    ///   - maxDisconnectionDuration: how long a lost socket stays recoverable (2 minutes, as
    ///     in the reference).
    public init(store: any RecoveryStore = InMemoryRecoveryStore(), maxDisconnectionDuration: Duration = .seconds(120)) {
        self.store = store
        self.maxDisconnectionDuration = maxDisconnectionDuration
        self.log = RecoveryLog.Configuration()
        self.log.maxAge = maxDisconnectionDuration
    }
}
