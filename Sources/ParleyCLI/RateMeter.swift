import Synchronization

/// Turns a growing total into "how many since the last call", for per-second progress lines.
final class RateMeter: Sendable {
    private let last = Mutex<UInt64>(0)

    func delta(_ total: UInt64) -> UInt64 {
        last.withLock { last in
            defer { last = total }
            return total &- last
        }
    }
}
