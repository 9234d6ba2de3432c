/// Which messages of a room a history read returns, decided from the room's bounds alone: the
/// rule every ``ReliableStore`` applies in ``ReliableStore/history(of:after:limit:newest:)``.
package struct HistoryRange: Sendable, Hashable {
    /// What the page holds.
    package enum Selection: Sendable, Hashable {
        /// No message.
        case none
        /// The messages after this offset, oldest first, at most the limit.
        case after(UInt64)
        /// The newest messages, at most the limit, oldest first.
        case newest
    }

    /// What the page holds.
    package var selection: Selection
    /// Messages after the reader's position were removed: the page starts at the oldest kept.
    package var truncated: Bool

    /// Decides a read of a room whose newest offset is `latest` and oldest kept `oldestKept`.
    ///
    /// A position beyond `latest` yields an empty page, not truncated: it belongs to another
    /// epoch, which the server recognises by the offset's epoch.
    package init(after offset: UInt64?, limit: Int, newest: Bool, latest: UInt64, oldestKept: UInt64) {
        let horizon = oldestKept - 1
        guard let offset else {
            selection = limit <= 0 ? .none : newest ? .newest : .after(horizon)
            truncated = false
            return
        }
        if offset > latest {
            selection = .none
            truncated = false
        } else if offset < horizon {
            selection = limit <= 0 ? .none : .after(horizon)
            truncated = true
        } else {
            selection = limit <= 0 ? .none : .after(offset)
            truncated = false
        }
    }
}
