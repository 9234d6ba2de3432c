import NIOCore
import ParleyProtocol
import Testing

/// The server heartbeat of `Protocol/engine.md` §8, driven with explicit instants.
@Suite("Heartbeat state machine")
struct HeartbeatStateMachineTests {
    private let interval = TimeAmount.milliseconds(300)
    private let timeout = TimeAmount.milliseconds(200)

    private func at(_ milliseconds: Int64) -> NIODeadline {
        .uptimeNanoseconds(UInt64(1_000_000_000 + milliseconds * 1_000_000))
    }

    /// A machine whose session opened at `at(0)`.
    private func opened() -> HeartbeatStateMachine {
        var machine = HeartbeatStateMachine(interval: interval, timeout: timeout)
        _ = machine.sessionOpened(now: at(0))
        return machine
    }

    /// A machine that sent its first ping at `at(300)`.
    private func waitingForPong() -> HeartbeatStateMachine {
        var machine = opened()
        _ = machine.timerFired(now: at(300))
        return machine
    }

    @Test func hasNoDeadlineBeforeTheSessionOpens() {
        var machine = HeartbeatStateMachine(interval: interval, timeout: timeout)
        #expect(machine.deadline == nil)
        #expect(machine.timerFired(now: at(10_000)) == .doNothing)
        #expect(machine.pongReceived(now: at(10_000)) == .doNothing)
        #expect(machine.deadline == nil)
    }

    @Test func armsTheFirstPingOneIntervalAfterTheSessionOpens() {
        var machine = HeartbeatStateMachine(interval: interval, timeout: timeout)
        #expect(machine.sessionOpened(now: at(0)) == .wake(at: at(300)))
        #expect(machine.deadline == at(300))
    }

    @Test func ignoresASecondSessionOpened() {
        var machine = opened()
        #expect(machine.sessionOpened(now: at(100)) == .doNothing)
        #expect(machine.deadline == at(300))
    }

    @Test func doesNothingWhenTheTimerFiresBeforeThePingIsDue() {
        var machine = opened()
        #expect(machine.timerFired(now: at(0)) == .doNothing)
        #expect(machine.timerFired(now: at(299)) == .doNothing)
        #expect(machine.timerFired(now: at(300) - .nanoseconds(1)) == .doNothing)
        #expect(machine.deadline == at(300))
    }

    @Test func sendsTheFirstPingWhenTheIntervalHasPassed() {
        var machine = opened()
        #expect(machine.timerFired(now: at(300)) == .sendPing(wakeAt: at(500)))
        #expect(machine.deadline == at(500))
    }

    @Test func measuresThePongTimeoutFromTheInstantThePingWentOut() {
        var machine = opened()
        // The timer fired late; the client gets the whole timeout from the real ping.
        #expect(machine.timerFired(now: at(350)) == .sendPing(wakeAt: at(550)))
    }

    @Test func doesNothingWhenTheTimerFiresBeforeThePongIsLate() {
        var machine = waitingForPong()
        #expect(machine.timerFired(now: at(300)) == .doNothing)
        #expect(machine.timerFired(now: at(500) - .nanoseconds(1)) == .doNothing)
        #expect(machine.deadline == at(500))
    }

    @Test func rearmsThePingOneIntervalAfterThePongInstant() {
        var machine = waitingForPong()
        #expect(machine.pongReceived(now: at(420)) == .wake(at: at(720)))
        #expect(machine.deadline == at(720))
        #expect(machine.timerFired(now: at(719)) == .doNothing)
        #expect(machine.timerFired(now: at(720)) == .sendPing(wakeAt: at(920)))
    }

    @Test func acceptsAPongJustBeforeItsDeadline() {
        var machine = waitingForPong()
        #expect(machine.pongReceived(now: at(500) - .nanoseconds(1)) == .wake(at: at(800) - .nanoseconds(1)))
        #expect(machine.timerFired(now: at(500)) == .doNothing)
    }

    @Test func closesSessionWhenPongIsLate() {
        var machine = waitingForPong()
        #expect(machine.timerFired(now: at(500)) == .close)
        #expect(machine.deadline == nil)
    }

    @Test func closesOnlyOnceWhenTheTimerKeepsFiring() {
        var machine = waitingForPong()
        #expect(machine.timerFired(now: at(600)) == .close)
        #expect(machine.timerFired(now: at(700)) == .doNothing)
    }

    @Test func ignoresAPongThatArrivesAfterTheTimeout() {
        var machine = waitingForPong()
        _ = machine.timerFired(now: at(500))
        #expect(machine.pongReceived(now: at(501)) == .doNothing)
        #expect(machine.deadline == nil)
    }

    @Test func ignoresAPongWhenNoPingIsOutstanding() {
        var machine = opened()
        #expect(machine.pongReceived(now: at(100)) == .doNothing)
        #expect(machine.deadline == at(300), "an unsolicited pong must not move the next ping")
        #expect(machine.timerFired(now: at(300)) == .sendPing(wakeAt: at(500)))
    }

    @Test func ignoresASecondPongForTheSamePing() {
        var machine = waitingForPong()
        #expect(machine.pongReceived(now: at(350)) == .wake(at: at(650)))
        #expect(machine.pongReceived(now: at(360)) == .doNothing)
        #expect(machine.deadline == at(650))
    }

    @Test func doesNothingOnceTheSessionClosed() {
        for var machine in [opened(), waitingForPong()] {
            machine.sessionClosed()
            #expect(machine.deadline == nil)
            #expect(machine.timerFired(now: at(10_000)) == .doNothing)
            #expect(machine.pongReceived(now: at(10_000)) == .doNothing)
            #expect(machine.sessionOpened(now: at(10_000)) == .doNothing)
            #expect(machine.deadline == nil)
        }
    }

    @Test func staysStoppedWhenClosedBeforeItStarted() {
        var machine = HeartbeatStateMachine(interval: interval, timeout: timeout)
        machine.sessionClosed()
        #expect(machine.sessionOpened(now: at(0)) == .doNothing)
        #expect(machine.deadline == nil)
    }
}
