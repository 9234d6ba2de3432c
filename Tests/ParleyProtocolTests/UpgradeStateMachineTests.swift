import NIOCore
import ParleyProtocol
import Testing

/// The polling → WebSocket upgrade of `Protocol/engine.md` §7, driven with explicit instants.
@Suite("Upgrade state machine")
struct UpgradeStateMachineTests {
    private let timeout = TimeAmount.seconds(10)

    private func at(_ milliseconds: Int64) -> NIODeadline {
        .uptimeNanoseconds(UInt64(1_000_000_000 + milliseconds * 1_000_000))
    }

    /// A machine whose probe WebSocket opened at `at(0)`.
    private func probeAttached() -> UpgradeStateMachine {
        var machine = UpgradeStateMachine(timeout: timeout)
        _ = machine.probeOpened(now: at(0))
        return machine
    }

    /// A machine that answered `2probe`.
    private func probed() -> UpgradeStateMachine {
        var machine = probeAttached()
        _ = machine.probePingReceived()
        return machine
    }

    /// A machine that switched to the WebSocket.
    private func upgraded() -> UpgradeStateMachine {
        var machine = probed()
        _ = machine.upgradeReceived()
        return machine
    }

    /// Checks that `machine` is back on polling with nothing pending and accepts a new probe.
    private func expectBackOnPolling(_ machine: UpgradeStateMachine, _ comment: Comment, sourceLocation: SourceLocation = #_sourceLocation) {
        var machine = machine
        #expect(!machine.isDraining, comment, sourceLocation: sourceLocation)
        #expect(!machine.isUpgraded, comment, sourceLocation: sourceLocation)
        #expect(machine.deadline == nil, comment, sourceLocation: sourceLocation)
        #expect(machine.probeOpened(now: at(50_000)) == .acceptProbe(wakeAt: at(60_000)), comment, sourceLocation: sourceLocation)
    }

    @Test func startsOnPollingWithNothingPending() {
        var machine = UpgradeStateMachine(timeout: timeout)
        #expect(!machine.isDraining)
        #expect(!machine.isUpgraded)
        #expect(machine.deadline == nil)
        #expect(machine.timerFired(now: at(100_000)) == .doNothing)
        #expect(machine.probeFailed() == .doNothing)
    }

    @Test func acceptsAProbeAndArmsTheUpgradeDeadline() {
        var machine = UpgradeStateMachine(timeout: timeout)
        #expect(machine.probeOpened(now: at(0)) == .acceptProbe(wakeAt: at(10_000)))
        #expect(machine.deadline == at(10_000))
        #expect(!machine.isDraining, "nothing drains before the probe was answered")
        #expect(!machine.isUpgraded)
    }

    @Test func answersTheProbePingAndStartsDraining() {
        var machine = probeAttached()
        #expect(machine.probePingReceived() == .answerProbe)
        #expect(machine.isDraining)
        #expect(!machine.isUpgraded)
        #expect(machine.deadline == at(10_000), "the deadline runs from the probe opening, not the ping")
    }

    @Test func switchesTransportOnTheUpgradePacket() {
        var machine = probed()
        #expect(machine.upgradeReceived() == .switchTransport)
        #expect(machine.isUpgraded)
        #expect(!machine.isDraining, "draining ends with the switch")
        #expect(machine.deadline == nil)
        #expect(machine.timerFired(now: at(20_000)) == .doNothing)
    }

    @Test func abandonsTheProbeWhenUpgradeArrivesBeforeTheProbePing() {
        var machine = probeAttached()
        #expect(machine.upgradeReceived() == .abandonProbe)
        expectBackOnPolling(machine, "after 5 before 2probe")
    }

    @Test func abandonsTheProbeWhenTheProbePingIsRepeated() {
        var machine = probed()
        #expect(machine.probePingReceived() == .abandonProbe)
        // The driver closes the probe on this action, so the machine must not keep draining
        // (every GET would be answered noop) nor keep a deadline for a probe that is gone.
        expectBackOnPolling(machine, "after a second 2probe")
    }

    @Test func rejectsASecondProbeWhileTheFirstIsAttached() {
        var machine = probeAttached()
        #expect(machine.probeOpened(now: at(1_000)) == .rejectProbe)
        #expect(machine.deadline == at(10_000), "the first probe keeps its deadline")
        #expect(machine.probePingReceived() == .answerProbe)
    }

    @Test func rejectsASecondProbeWhileDraining() {
        var machine = probed()
        #expect(machine.probeOpened(now: at(1_000)) == .rejectProbe)
        #expect(machine.isDraining)
        #expect(machine.upgradeReceived() == .switchTransport)
    }

    @Test func rejectsEveryProbeAfterTheUpgrade() {
        var machine = upgraded()
        #expect(machine.probeOpened(now: at(1_000)) == .rejectProbe)
        #expect(machine.probeOpened(now: at(100_000)) == .rejectProbe)
        #expect(machine.isUpgraded)
    }

    @Test func staysUpgradedWhateverArrivesAfterTheSwitch() {
        var machine = upgraded()
        #expect(machine.probeFailed() == .doNothing)
        #expect(machine.timerFired(now: at(100_000)) == .doNothing)
        #expect(machine.isUpgraded)
        _ = machine.upgradeReceived()
        #expect(machine.isUpgraded, "a stray 5 must not take the session back to polling")
        #expect(!machine.isDraining)
    }

    @Test func doesNothingWhenTheTimerFiresBeforeTheDeadline() {
        var machine = probed()
        #expect(machine.timerFired(now: at(0)) == .doNothing)
        #expect(machine.timerFired(now: at(10_000) - .nanoseconds(1)) == .doNothing)
        #expect(machine.isDraining)
        #expect(machine.deadline == at(10_000))
    }

    @Test func abandonsAnAttachedProbeAtTheDeadline() {
        var machine = probeAttached()
        #expect(machine.timerFired(now: at(10_000)) == .abandonProbe)
        expectBackOnPolling(machine, "after a timeout before 2probe")
    }

    @Test func abandonsADrainingUpgradeAtTheDeadline() {
        var machine = probed()
        #expect(machine.timerFired(now: at(12_000)) == .abandonProbe)
        expectBackOnPolling(machine, "after a timeout while draining")
        #expect(machine.upgradeReceived() == .doNothing, "a 5 after the timeout has no probe to switch to")
        #expect(!machine.isUpgraded)
    }

    @Test func abandonsTheProbeWhenItFails() {
        var attached = probeAttached()
        #expect(attached.probeFailed() == .abandonProbe)
        expectBackOnPolling(attached, "after the attached probe failed")

        var draining = probed()
        #expect(draining.probeFailed() == .abandonProbe)
        expectBackOnPolling(draining, "after the draining probe failed")
    }

    @Test func drainsOnlyBetweenAnsweringTheProbeAndTheSwitch() {
        var machine = UpgradeStateMachine(timeout: timeout)
        var draining: [Bool] = [machine.isDraining]
        _ = machine.probeOpened(now: at(0))
        draining.append(machine.isDraining)
        _ = machine.probePingReceived()
        draining.append(machine.isDraining)
        _ = machine.upgradeReceived()
        draining.append(machine.isDraining)
        #expect(draining == [false, false, true, false])
    }
}
