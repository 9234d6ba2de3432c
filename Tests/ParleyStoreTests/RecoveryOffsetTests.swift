import ParleyStore
import Testing

@Suite("Recovery offsets")
struct RecoveryOffsetTests {
    private static let sequences: [UInt64] = [0, 1, 9, 10, 35, 36, 1295, 1296, 46_655, 46_656, 1 << 32, (1 << 32) + 1, UInt64(Int64.max), .max - 1, .max]

    @Test(arguments: sequences)
    func parsesWhatItPrints(sequence: UInt64) {
        let offset = RecoveryOffset(epoch: "k3v9x0ab", sequence: sequence)
        #expect(RecoveryOffset(offset.description) == offset)
    }

    @Test func printsShortSequencesShortly() {
        #expect(RecoveryOffset(epoch: "e", sequence: 0).description == "e-a0")
        #expect(RecoveryOffset(epoch: "e", sequence: 35).description == "e-az")
        #expect(RecoveryOffset(epoch: "e", sequence: 36).description == "e-b10")
        #expect(RecoveryOffset(epoch: "e", sequence: .max).description == "e-m3w5e11264sgsf")
    }

    @Test func keepsTheEpochEvenWithADash() {
        #expect(RecoveryOffset("epoch-with-dash-b10") == RecoveryOffset(epoch: "epoch-with-dash", sequence: 36))
    }

    @Test func sortsLikeTheSequencesWithinAnEpoch() {
        var generator = SystemRandomNumberGenerator()
        let random = (0..<500).map { _ in UInt64.random(in: 0 ... .max, using: &generator) >> UInt64.random(in: 0...63, using: &generator) }
        let sequences = Self.sequences + random
        let byString = sequences.sorted { RecoveryOffset(epoch: "ep", sequence: $0).description < RecoveryOffset(epoch: "ep", sequence: $1).description }
        #expect(byString == sequences.sorted())
    }

    @Test(arguments: [
        "", // empty
        "abc", // no dash
        "-a1", // no epoch
        "ep-", // nothing after the dash
        "ep-a", // a count and no digit
        "ep-A1", // the count is not a lower-case letter
        "ep-n12345678901234", // more digits than a UInt64 has
        "ep-b1", // fewer digits than counted
        "ep-a12", // more digits than counted
        "ep-a!", // not a base-36 digit
        "ep-aZ", // upper-case digit
        "ep-b01", // leading zero
        "ep-m3w5e11264sgsg", // UInt64.max + 1
        "ep-mzzzzzzzzzzzzz", // overflow
        "ep-a1 ", // trailing space
    ])
    func refusesJunk(string: String) {
        #expect(RecoveryOffset(string) == nil)
    }

    @Test func makesDistinctEpochsOfEightBase36Characters() {
        let epochs = (0..<20).map { _ in RecoveryOffset.makeEpoch() }
        #expect(Set(epochs).count == 20)
        #expect(epochs.allSatisfy { $0.utf8.count == 8 && $0.allSatisfy { $0.isNumber || ("a"..."z").contains($0) } })
    }
}
