/// A cheap non-cryptographic generator for WebSocket masking keys: a syscall per frame
/// (SystemRandomNumberGenerator) would cost the load generator more than the frame itself.
struct XorshiftGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed | 1 }

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}
