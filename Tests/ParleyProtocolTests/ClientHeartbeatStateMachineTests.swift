import NIOCore
import ParleyProtocol
import Testing

/// The client's ping watchdog with explicit instants.
@Suite("Client heartbeat state machine")
struct ClientHeartbeatStateMachineTests {
    func at(_ milliseconds: Int64) -> NIODeadline { .uptimeNanoseconds(UInt64(milliseconds) * 1_000_000) }

    @Test func theWatchdogAllowsIntervalPlusTimeoutAfterOpenAndAfterEachPing() {
        var machine = ClientHeartbeatStateMachine(pingInterval: .milliseconds(300), pingTimeout: .milliseconds(200))
        #expect(machine.opened(now: at(1_000)) == .wake(at: at(1_500)))
        #expect(machine.timerFired(now: at(1_499)) == .wake(at: at(1_500)))
        #expect(machine.pingReceived(now: at(1_300)) == .sendPong(wakeAt: at(1_800)))
        #expect(machine.timerFired(now: at(1_500)) == .wake(at: at(1_800)))
        #expect(machine.timerFired(now: at(1_800)) == .close)
        #expect(machine.timerFired(now: at(2_000)) == .doNothing)
    }

    @Test func aPingBeforeOpenIsIgnored() {
        var machine = ClientHeartbeatStateMachine(pingInterval: .milliseconds(300), pingTimeout: .milliseconds(200))
        #expect(machine.pingReceived(now: at(0)) == .doNothing)
        #expect(machine.timerFired(now: at(10_000)) == .doNothing)
    }

    @Test func aClosedWatchdogDoesNothing() {
        var machine = ClientHeartbeatStateMachine(pingInterval: .milliseconds(300), pingTimeout: .milliseconds(200))
        _ = machine.opened(now: at(0))
        machine.closed()
        #expect(machine.nextDeadline == nil)
        #expect(machine.timerFired(now: at(10_000)) == .doNothing)
    }

    @Test func valuesThatWouldOverflowTheClockSaturateInsteadOfTrapping() {
        var machine = ClientHeartbeatStateMachine(pingInterval: .nanoseconds(.max), pingTimeout: .nanoseconds(.max))
        #expect(machine.opened(now: at(1_000)) == .wake(at: .distantFuture))
        #expect(machine.pingReceived(now: .uptimeNanoseconds(.max - 5)) == .sendPong(wakeAt: .distantFuture))
        #expect(machine.timerFired(now: at(2_000)) == .wake(at: .distantFuture))
    }

    @Test func aHandshakeWithTimersNoClockCanHoldIsRefused() throws {
        let huge = #"{"sid":"abc","upgrades":[],"pingInterval":5000000000000,"pingTimeout":20000,"maxPayload":1000000}"#
        #expect(throws: EngineProtocolError.self) { try EngineHandshake(json: ByteBuffer(string: huge)) }
        let largest = #"{"sid":"abc","upgrades":[],"pingInterval":2147483647,"pingTimeout":2147483647,"maxPayload":1000000}"#
        let handshake = try EngineHandshake(json: ByteBuffer(string: largest))
        #expect(handshake.pingInterval == .milliseconds(2_147_483_647))
    }
}
