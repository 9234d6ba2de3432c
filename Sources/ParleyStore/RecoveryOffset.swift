/// The position a client presents to recover: the log's epoch and an entry's sequence, as the
/// opaque string that travels as the last argument of every recoverable event
/// (`Protocol/recovery.md` § 2).
///
/// The form is `<epoch>-<n><digits>`: the sequence in base 36 behind one letter that counts
/// its digits (`a` for one digit, `b` for two, …), so that within one epoch the strings sort
/// as their sequences do, and short sequences stay short on the wire.
public struct RecoveryOffset: Sendable, Hashable, CustomStringConvertible {
    /// The epoch of the log the offset was handed out by.
    public var epoch: String
    /// The sequence of the entry.
    public var sequence: UInt64

    /// Creates an offset.
    public init(epoch: String, sequence: UInt64) {
        self.epoch = epoch
        self.sequence = sequence
    }

    private static let digits: [UInt8] = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)

    /// Parses an offset string; `nil` for anything this server could not have handed out.
    public init?(_ string: String) {
        let utf8 = Array(string.utf8)
        guard utf8.count <= 64, let dash = utf8.lastIndex(of: UInt8(ascii: "-")), dash > 0, dash + 2 < utf8.count else { return nil }
        let count = Int(utf8[dash + 1]) - Int(UInt8(ascii: "a")) + 1
        guard count >= 1, count <= 13, dash + 2 + count == utf8.count else { return nil }
        var value: UInt64 = 0
        for byte in utf8[(dash + 2)...] {
            guard let digit = Self.digits.firstIndex(of: byte) else { return nil }
            let (shifted, overflowA) = value.multipliedReportingOverflow(by: 36)
            let (sum, overflowB) = shifted.addingReportingOverflow(UInt64(digit))
            guard !overflowA, !overflowB else { return nil }
            value = sum
        }
        // One spelling per sequence: no leading zero.
        guard count == 1 || utf8[dash + 2] != UInt8(ascii: "0") else { return nil }
        self.epoch = String(decoding: utf8[..<dash], as: UTF8.self)
        self.sequence = value
    }

    /// The string form.
    public var description: String {
        var digits: [UInt8] = []
        var value = sequence
        repeat {
            digits.append(Self.digits[Int(value % 36)])
            value /= 36
        } while value > 0
        var result = Array(epoch.utf8)
        result.append(UInt8(ascii: "-"))
        result.append(UInt8(ascii: "a") + UInt8(digits.count - 1))
        result.append(contentsOf: digits.reversed())
        return String(decoding: result, as: UTF8.self)
    }

    /// A new random epoch: 8 characters of `[0-9a-z]`.
    public static func makeEpoch() -> String {
        var generator = SystemRandomNumberGenerator()
        return String(decoding: (0..<8).map { _ in digits[Int(generator.next(upperBound: UInt8(36)))] }, as: UTF8.self)
    }
}
