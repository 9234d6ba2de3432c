/// What a committed transaction of an SQLite store survives.
public enum SQLiteDurability: Sendable, Hashable {
    /// `PRAGMA synchronous = NORMAL`: a commit survives a crash of the process (even
    /// `SIGKILL`), but the last transactions may be lost on a power loss or a crash of the
    /// operating system (the file stays consistent). The disk is synchronised only at
    /// checkpoints, so commits are cheap.
    case normal
    /// `PRAGMA synchronous = FULL`: a commit survives a power loss too, at the cost of one
    /// `fsync` per transaction.
    case full
}
