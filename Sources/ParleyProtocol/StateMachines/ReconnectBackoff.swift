/// The reconnection schedule of a client: exponential backoff with jitter, as the official JS
/// client computes it (`Protocol/client.md` § Reconnection).
///
/// Attempt *n* (from 0) waits `initial × 2ⁿ`, moved up or down by a random part of
/// `randomization` × itself, then capped at `maximum` — the JS client's formula. Without I/O or clocks: the driver sleeps for what it returns.
public struct ReconnectBackoff: Sendable {
    /// The first delay.
    public var initial: Duration
    /// The longest delay.
    public var maximum: Duration
    /// How far, as a fraction of the delay, each delay is randomly spread (0 … 1).
    public var randomization: Double
    /// The most attempts before giving up; `nil` for no limit.
    public var maximumAttempts: Int?
    /// How many delays were handed out since the last ``reset()``.
    public private(set) var attempts = 0

    /// Creates a schedule; the defaults are the JS client's (1 s, 5 s, 0.5, unlimited).
    public init(initial: Duration = .seconds(1), maximum: Duration = .seconds(5), randomization: Double = 0.5, maximumAttempts: Int? = nil) {
        self.initial = initial
        self.maximum = maximum
        self.randomization = min(max(randomization, 0), 1)
        self.maximumAttempts = maximumAttempts
    }

    /// The delay before the next attempt, or `nil` when attempts are exhausted.
    ///
    /// - Parameter random: a uniform value in `0 ..< 1` (injected so tests are exact).
    public mutating func nextDelay(random: Double) -> Duration? {
        if let maximumAttempts, attempts >= maximumAttempts { return nil }
        let base = Double(initial.milliseconds) * pow2(attempts)
        attempts += 1
        var delay = base
        if randomization > 0 {
            let deviation = (random * randomization * delay).rounded(.down)
            // The JS client adds or subtracts depending on the random draw's first decimal.
            delay = Int(random * 10) & 1 == 0 ? delay - deviation : delay + deviation
        }
        return .milliseconds(Int64(min(max(delay.rounded(.down), 0), Double(maximum.milliseconds))))
    }

    /// A connection succeeded: the next failure starts from ``initial`` again.
    public mutating func reset() {
        attempts = 0
    }

    private func pow2(_ exponent: Int) -> Double {
        exponent >= 62 ? .greatestFiniteMagnitude : Double(UInt64(1) << UInt64(exponent))
    }
}

extension Duration {
    /// The duration in whole milliseconds.
    var milliseconds: Int64 { wholeMilliseconds }
}
