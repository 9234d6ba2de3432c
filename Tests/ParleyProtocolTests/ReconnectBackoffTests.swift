import ParleyProtocol
import Testing

/// The reconnection schedule, with the random draw injected.
@Suite("Reconnect backoff")
struct ReconnectBackoffTests {
    @Test func withoutRandomizationDelaysDoubleUpToTheMaximum() {
        var backoff = ReconnectBackoff(initial: .seconds(1), maximum: .seconds(5), randomization: 0)
        let delays = (0..<5).map { _ in backoff.nextDelay(random: 0.3) }
        #expect(delays == [.seconds(1), .seconds(2), .seconds(4), .seconds(5), .seconds(5)])
    }

    @Test func randomizationMovesTheDelayDownOrUpLikeTheJSClient() {
        // The JS formula: deviation = floor(rand × 0.5 × ms); even first decimal subtracts.
        var down = ReconnectBackoff(randomization: 0.5)
        #expect(down.nextDelay(random: 0.25) == .milliseconds(875))  // floor(2.5)=2 → even → 1000 − 125
        var up = ReconnectBackoff(randomization: 0.5)
        #expect(up.nextDelay(random: 0.35) == .milliseconds(1_175))  // floor(3.5)=3 → odd → 1000 + 175
    }

    @Test func theMaximumCapsAfterTheJitter() {
        var backoff = ReconnectBackoff(initial: .seconds(4), maximum: .seconds(5), randomization: 0.5)
        #expect(backoff.nextDelay(random: 0.35) == .milliseconds(4_700))  // 4000 + 700
        #expect(backoff.nextDelay(random: 0.35) == .seconds(5))  // 8000 + 1400 → capped
        #expect(backoff.nextDelay(random: 0.25) == .seconds(5))  // 16000 − 2000 → capped
    }

    @Test func attemptsRunOutAtTheLimitAndResetStartsOver() {
        var backoff = ReconnectBackoff(randomization: 0, maximumAttempts: 2)
        #expect(backoff.nextDelay(random: 0) == .seconds(1))
        #expect(backoff.nextDelay(random: 0) == .seconds(2))
        #expect(backoff.nextDelay(random: 0) == nil)
        backoff.reset()
        #expect(backoff.nextDelay(random: 0) == .seconds(1))
    }

    @Test func theDefaultsAreTheJSClients() {
        let backoff = ReconnectBackoff()
        #expect(backoff.initial == .seconds(1))
        #expect(backoff.maximum == .seconds(5))
        #expect(backoff.randomization == 0.5)
        #expect(backoff.maximumAttempts == nil)
    }
}
