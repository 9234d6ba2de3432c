import NIOCore

/// The monotonic clock every latency and schedule of the load generator uses (CLOCK_MONOTONIC,
/// the clock NIO schedules timers on), in nanoseconds.
enum BenchClock {
    @inline(__always)
    static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds }

    /// `seconds` in nanoseconds (negative counts as zero).
    static func nanoseconds(_ seconds: Double) -> UInt64 { UInt64(max(0, seconds) * 1e9) }

    /// The deadline NIO schedules at for the instant `nanos`.
    @inline(__always)
    static func deadline(_ nanos: UInt64) -> NIODeadline { .uptimeNanoseconds(nanos) }
}
