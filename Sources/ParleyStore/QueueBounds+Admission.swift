extension QueueBounds {
    /// Whether a new message of `size` bytes may join a queue that holds `count` messages of
    /// `bytes` bytes, and how many of its oldest messages must go first: the rule every
    /// ``ReliableStore`` applies to ``ReliableOperation/enqueue(_:_:bounds:origin:)``.
    ///
    /// A message larger than ``maxBytes`` is refused even with
    /// ``Overflow/dropOldest``: it could never fit.
    ///
    /// - Parameter nextOldestSize: The size of the oldest message not yet counted as dropped,
    ///   called once per message that must go (only with ``Overflow/dropOldest``); `nil` when
    ///   the queue has no more.
    /// - Returns: the number of oldest messages to remove, or `nil` when the message is refused.
    package func admission(size: Int, count: Int, bytes: Int, nextOldestSize: () throws -> Int?) rethrows -> Int? {
        guard size <= maxBytes, maxMessages >= 1 else { return nil }
        var count = count
        var bytes = bytes
        var dropped = 0
        while count + 1 > maxMessages || bytes + size > maxBytes {
            guard overflow == .dropOldest, let oldest = try nextOldestSize() else { return nil }
            count -= 1
            bytes -= oldest
            dropped += 1
        }
        return dropped
    }
}
