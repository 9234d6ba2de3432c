import NIOCore

extension InMemoryReliableStore {
    /// A user's queue: its messages, its counters and its devices.
    struct Queue {
        /// A known device.
        struct Device {
            /// The highest sequence it acknowledged in order.
            var position: UInt64
            /// When it was last registered or acknowledged something.
            var lastSeen: Int64
        }

        /// Sorted by sequence.
        var messages = CircularBuffer<QueuedMessage>()
        var bytes = 0
        var dropped = 0
        var devices: [String: Device] = [:]

        var state: UserQueueState {
            UserQueueState(
                messages: messages.count,
                bytes: bytes,
                oldestSequence: messages.first?.sequence,
                oldestTimeMilliseconds: messages.first?.message.timeMilliseconds,
                dropped: dropped,
                devices: devices.count
            )
        }

        /// Appends `message` with `sequence` within `bounds`.
        ///
        /// - Returns: the number of oldest messages dropped to make room, or `nil` when the
        ///   message is refused (and nothing changed).
        mutating func enqueue(_ message: StoredMessage, sequence: UInt64, bounds: QueueBounds) -> Int? {
            var next = messages.startIndex
            let admitted = bounds.admission(size: message.byteCount, count: messages.count, bytes: bytes) {
                guard next != messages.endIndex else { return nil }
                defer { next = messages.index(after: next) }
                return messages[next].message.byteCount
            }
            guard let admitted else { return nil }
            removeFirst(admitted)
            dropped += admitted
            messages.append(QueuedMessage(sequence: sequence, message: message))
            bytes += message.byteCount
            return admitted
        }

        /// Moves `device` forward to `through` (making it known there if it was not) and marks
        /// it seen, then removes what every device acknowledged.
        mutating func acknowledge(device: String, through: UInt64, now: Int64) {
            if var known = devices[device] {
                known.position = max(known.position, through)
                known.lastSeen = now
                devices[device] = known
            } else {
                devices[device] = Device(position: through, lastSeen: now)
            }
            removeAcknowledged()
        }

        /// Makes `device` known at position 0, or marks it seen.
        mutating func register(device: String, now: Int64) {
            if devices[device] == nil {
                devices[device] = Device(position: 0, lastSeen: now)
            } else {
                devices[device]?.lastSeen = now
            }
        }

        /// Forgets the devices last seen before `cut`, then removes what every remaining device
        /// acknowledged.
        ///
        /// - Returns: the devices forgotten and the messages removed.
        mutating func forgetDevices(seenBefore cut: Int64) -> (devices: Int, messages: Int) {
            let known = devices.count
            devices = devices.filter { $0.value.lastSeen >= cut }
            let forgotten = known - devices.count
            return (forgotten, forgotten > 0 ? removeAcknowledged() : 0)
        }

        /// The sequence of the oldest message accepted at or after `cut`, if any.
        func firstSequence(acceptedFrom cut: Int64) -> UInt64? {
            messages.first { $0.message.timeMilliseconds >= cut }?.sequence
        }

        /// Removes the messages before `sequence`, counting them as dropped.
        ///
        /// - Returns: the number removed.
        mutating func dropMessages(before sequence: UInt64) -> Int {
            let count = messages.distance(from: messages.startIndex, to: messages.partitioningIndex { $0.sequence >= sequence })
            removeFirst(count)
            dropped += count
            return count
        }

        /// Removes the messages every known device acknowledged; none when no device is known.
        ///
        /// - Returns: the number removed.
        @discardableResult
        private mutating func removeAcknowledged() -> Int {
            guard let through = devices.values.lazy.map(\.position).min() else { return 0 }
            let count = messages.distance(from: messages.startIndex, to: messages.partitioningIndex { $0.sequence > through })
            removeFirst(count)
            return count
        }

        private mutating func removeFirst(_ count: Int) {
            guard count > 0 else { return }
            for message in messages.prefix(count) { bytes -= message.message.byteCount }
            messages.removeFirst(count)
        }
    }
}
