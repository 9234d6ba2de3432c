import NIOCore
@testable import ParleyClient
import ParleyProtocol
import Testing

/// The outbox's decisions with explicit instants, and the marker's handling of payload bytes.
@Suite("Outbox state machine and marker")
struct OutboxStateMachineTests {
    let start = ContinuousClock.now

    static func entry(_ sequence: UInt64, written: Bool = true) -> OutboxStateMachine.Entry {
        OutboxStateMachine.Entry(
            sequence: sequence,
            key: "d.\(sequence)",
            payload: ByteBuffer(string: #"["send",\#(sequence),{"parley":{"key":"d.\#(sequence)"}}]"#),
            attachments: [],
            written: written,
            answer: nil
        )
    }

    static func keys(_ output: OutboxStateMachine.Output) -> [String] {
        output.packets.map { packet in
            let json = String(buffer: packet.payload!)
            return String(json.split(separator: "\"key\":\"")[1].prefix { $0 != "\"" })
        }
    }

    /// A connected, loaded outbox of `window`, with nothing in it.
    func ready(window: Int = 2, ackID: inout UInt64) -> OutboxStateMachine {
        var outbox = OutboxStateMachine(namespace: "/", window: window, retryDelay: .seconds(1), maximumRetryDelay: .seconds(3))
        _ = outbox.loaded([], now: start, nextAckID: &ackID)
        _ = outbox.connected(now: start, nextAckID: &ackID)
        return outbox
    }

    @Test func sendsInOrderAWindowAtATimeAndTheNextOnEachAnswer() throws {
        var ackID: UInt64 = 10
        var outbox = ready(ackID: &ackID)
        for sequence: UInt64 in 1...3 { outbox.added(Self.entry(sequence, written: false)) }
        #expect(outbox.written(key: "d.2", now: start, nextAckID: &ackID).packets.isEmpty)  // d.1 is not kept yet
        #expect(Self.keys(outbox.written(key: "d.1", now: start, nextAckID: &ackID)) == ["d.1", "d.2"])
        #expect(outbox.written(key: "d.3", now: start, nextAckID: &ackID).packets.isEmpty)  // the window is full
        let answer = SocketArguments(json: ByteBuffer(string: "[1]"))
        let (removal, output) = try #require(outbox.ackReceived(10, outcome: .answered(answer), now: start, nextAckID: &ackID))
        #expect(removal?.key == "d.1")
        #expect(Self.keys(output) == ["d.3"])
        #expect(output.packets.map(\.ackID) == [12])
        #expect(outbox.ackReceived(10, outcome: .answered(answer), now: start, nextAckID: &ackID) == nil)
        #expect(outbox.depth == 2)
    }

    @Test func nothingGoesBeforeThePreviousRunsItemsAreLoadedAndTheyGoFirst() {
        var ackID: UInt64 = 0
        var outbox = OutboxStateMachine(namespace: "/", window: 8)
        outbox.added(Self.entry(5))
        #expect(outbox.connected(now: start, nextAckID: &ackID).packets.isEmpty)
        let output = outbox.loaded([Self.entry(2), Self.entry(3), Self.entry(5)], now: start, nextAckID: &ackID)
        #expect(Self.keys(output) == ["d.2", "d.3", "d.5"])
    }

    @Test func aLostConnectionSendsEverythingUnansweredAgainWithNewAckIDs() {
        var ackID: UInt64 = 0
        var outbox = ready(window: 8, ackID: &ackID)
        for sequence: UInt64 in 1...3 { outbox.added(Self.entry(sequence)) }
        #expect(Self.keys(outbox.written(key: "d.3", now: start, nextAckID: &ackID)) == ["d.1", "d.2", "d.3"])
        outbox.disconnected()
        #expect(outbox.ackReceived(0, outcome: .retryLater, now: start, nextAckID: &ackID) == nil)
        let again = outbox.connected(now: start, nextAckID: &ackID)
        #expect(Self.keys(again) == ["d.1", "d.2", "d.3"])
        #expect(again.packets.map(\.ackID) == [3, 4, 5])
    }

    @Test func storeFailedWaitsADoublingDelayAndARefusalRemovesTheEmit() {
        var ackID: UInt64 = 0
        var outbox = ready(window: 8, ackID: &ackID)
        outbox.added(Self.entry(1))
        outbox.added(Self.entry(2))
        _ = outbox.written(key: "d.2", now: start, nextAckID: &ackID)
        var (removal, output) = outbox.ackReceived(0, outcome: .retryLater, now: start, nextAckID: &ackID)!
        #expect(removal == nil && output.packets.isEmpty && output.wakeAt == start + .seconds(1))
        #expect(outbox.timerFired(now: start + .milliseconds(999), nextAckID: &ackID).packets.isEmpty)
        #expect(Self.keys(outbox.timerFired(now: start + .seconds(1), nextAckID: &ackID)) == ["d.1"])
        (_, output) = outbox.ackReceived(2, outcome: .retryLater, now: start + .seconds(1), nextAckID: &ackID)!
        #expect(output.wakeAt == start + .seconds(3))  // 2 s
        (removal, _) = outbox.ackReceived(1, outcome: .refused(code: "key_reused", message: "no"), now: start, nextAckID: &ackID)!
        #expect(removal?.key == "d.2")
        if case .failure(let error as ReliableEmitError)? = removal?.result {
            #expect(error.code == .keyReused && error.key == "d.2")
        } else {
            Issue.record("not refused: \(String(describing: removal?.result))")
        }
    }

    @Test func theMarkerIsFoundLastOrBeforeARecoveryOffsetAndTakenOut() {
        func extract(_ json: String, offset: Bool = false) -> String? {
            ReliableMarker.extract(fromEvent: ByteBuffer(string: json), allowingTrailingOffset: offset).map { "\($0.marker.id ?? $0.marker.room ?? "?") \(String(buffer: $0.payload))" }
        }
        #expect(extract(#"["dm",{"a":1},{"parley":{"id":"e.1"}}]"#) == #"e.1 ["dm",{"a":1}]"#)
        #expect(extract(#"["dm" , {"parley" : {"id":"e.2"}} ]"#) == #"e.2 ["dm" ]"#)
        #expect(extract(#"["said","x",{"parley":{"room":"r","offset":"e.3"}},"ep-a1"]"#, offset: true) == #"r ["said","x","ep-a1"]"#)
        #expect(extract(#"["said","x",{"parley":{"room":"r","offset":"e.3"}},"ep-a1"]"#) == nil)
        #expect(extract(#"["dm",{"parley":{"id":"e.1"},"other":1}]"#) == nil)
        #expect(extract(#"["dm",{"text":"}]"}]"#) == nil)
        #expect(extract(#"[{"parley":{"id":"e.1"}}]"#) == nil)
    }

    @Test func aKeyMarkerIsAddedLast() {
        #expect(String(buffer: ReliableMarker.appending(key: "d.1", to: ByteBuffer(string: #"["send"]"#))) == #"["send",{"parley":{"key":"d.1"}}]"#)
        #expect(String(buffer: ReliableMarker.appending(key: "d.\"2", to: ByteBuffer(string: #"["send",1]"#))) == #"["send",1,{"parley":{"key":"d.\"2"}}]"#)
    }

    @Test func roomOffsetsCompareWithinAnEpochAndAnotherEpochIsNewer() {
        #expect(RoomOffsetOrder.isNewer("e.1", than: nil))
        #expect(RoomOffsetOrder.isNewer("e.10", than: "e.9"))
        #expect(!RoomOffsetOrder.isNewer("e.9", than: "e.10"))
        #expect(!RoomOffsetOrder.isNewer("e.9", than: "e.9"))
        #expect(RoomOffsetOrder.isNewer("f.1", than: "e.9"))
    }
}
