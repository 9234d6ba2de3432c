/// A strong HTTP entity tag (RFC 9110 § 8.8.3) of a file's bytes: the byte count and their
/// 64-bit FNV-1a hash, in hexadecimal. It only has to tell one version of one file from the
/// next, so a fast non-cryptographic hash is enough.
enum EntityTag {
    static func of(_ bytes: some Sequence<UInt8>) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        var count = 0
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
            count += 1
        }
        return String(count, radix: 16) + "-" + String(hash, radix: 16)
    }
}
