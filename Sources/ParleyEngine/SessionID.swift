/// Unguessable session ids: 15 bytes from the system's cryptographic random source
/// (`getrandom` on Linux, `arc4random` on Apple platforms), as 20 URL-safe base64 characters.
enum SessionID {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(15)
        for _ in 0..<15 { bytes.append(generator.next()) }
        var characters: [UInt8] = []
        characters.reserveCapacity(20)
        for group in stride(from: 0, to: 15, by: 3) {
            let value = UInt32(bytes[group]) << 16 | UInt32(bytes[group + 1]) << 8 | UInt32(bytes[group + 2])
            for shift in stride(from: 18, through: 0, by: -6) {
                characters.append(alphabet[Int((value >> UInt32(shift)) & 0x3F)])
            }
        }
        return String(decoding: characters, as: UTF8.self)
    }
}
