import NIOCore

extension InMemoryReliableStore {
    /// A room's history.
    struct Room {
        /// The messages kept: offsets `trimmedThrough + 1 ... latest`, without holes.
        var messages = CircularBuffer<HistoryMessage>()
        /// The newest offset handed out; 0 before the first message.
        var latest: UInt64 = 0
        /// The highest offset removed.
        var trimmedThrough: UInt64 = 0

        /// Appends `message`, then removes the oldest beyond `maxMessages`.
        ///
        /// - Returns: the message's offset.
        mutating func append(_ message: StoredMessage, maxMessages: Int) -> UInt64 {
            latest += 1
            messages.append(HistoryMessage(offset: latest, message: message))
            removeFirst(messages.count - max(maxMessages, 0))
            return latest
        }

        /// Removes the oldest messages while they were accepted before `cut`. A message kept
        /// keeps the ones after it, however old: the history never has holes.
        ///
        /// - Returns: the number removed.
        mutating func removeMessages(before cut: Int64) -> Int {
            let count = messages.prefix { $0.message.timeMilliseconds < cut }.count
            removeFirst(count)
            return count
        }

        /// The page of a history read.
        func page(after offset: UInt64?, limit: Int, newest: Bool) -> HistoryPage {
            let range = HistoryRange(after: offset, limit: limit, newest: newest, latest: latest, oldestKept: trimmedThrough + 1)
            let selected: [HistoryMessage] = switch range.selection {
            case .none: []
            case .newest: Array(messages.suffix(limit))
            case .after(let offset): Array(messages.dropFirst(Int(offset - trimmedThrough)).prefix(limit))
            }
            return HistoryPage(messages: selected, latest: latest, oldestKept: trimmedThrough + 1, truncated: range.truncated)
        }

        private mutating func removeFirst(_ count: Int) {
            guard count > 0 else { return }
            messages.removeFirst(count)
            trimmedThrough += UInt64(count)
        }
    }
}
