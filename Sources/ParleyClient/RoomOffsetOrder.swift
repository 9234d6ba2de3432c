/// How room offsets `<epoch>.<n>` compare (`Protocol/reliable.md` § 4.1): by `n` within one
/// epoch; an offset of another epoch (the server's store was replaced) counts as newer.
enum RoomOffsetOrder {
    /// Whether `offset` comes after `remembered` (anything comes after no position).
    static func isNewer(_ offset: String, than remembered: String?) -> Bool {
        guard let remembered else { return true }
        guard let new = parts(offset), let old = parts(remembered) else { return offset != remembered }
        return new.epoch != old.epoch || new.number > old.number
    }

    private static func parts(_ offset: String) -> (epoch: Substring, number: UInt64)? {
        guard let dot = offset.lastIndex(of: "."), let number = UInt64(offset[offset.index(after: dot)...]) else { return nil }
        return (offset[..<dot], number)
    }
}
