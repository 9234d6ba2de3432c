import Foundation
import NIOCore

/// A JSON test-vector file from `Protocol/vectors/`, read the same way by every codec test.
///
/// The vectors are the single source of truth for the wire formats; tests find them relative
/// to this file so that there is exactly one copy in the repository.
struct VectorFile {
    let root: [String: Any]

    init(named name: String) throws {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent() // Support
            .deletingLastPathComponent() // ParleyProtocolTests
            .deletingLastPathComponent() // Tests
            .deletingLastPathComponent() // repository root
            .appendingPathComponent("Protocol/vectors/\(name).json")
        let data = try Data(contentsOf: url)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw VectorError.malformed("\(name).json is not a JSON object")
        }
        self.root = object
    }

    /// The entries of a top-level array such as `"valid"` or `"invalid"`.
    func cases(_ key: String) throws -> [Vector] {
        guard let list = root[key] as? [[String: Any]] else {
            throw VectorError.malformed("missing array \"\(key)\"")
        }
        return list.map(Vector.init)
    }
}

/// One entry of a vector file.
struct Vector: CustomTestStringConvertibleShim {
    let fields: [String: Any]

    var name: String { fields["name"] as? String ?? "<unnamed>" }

    func string(_ key: String) throws -> String {
        guard let value = fields[key] as? String else { throw VectorError.malformed("\(name): missing string \"\(key)\"") }
        return value
    }

    func object(_ key: String) throws -> [String: Any] {
        guard let value = fields[key] as? [String: Any] else { throw VectorError.malformed("\(name): missing object \"\(key)\"") }
        return value
    }

    func array(_ key: String) throws -> [Any] {
        guard let value = fields[key] as? [Any] else { throw VectorError.malformed("\(name): missing array \"\(key)\"") }
        return value
    }
}

/// Marker so vectors print their name in test output.
protocol CustomTestStringConvertibleShim: CustomStringConvertible {
    var name: String { get }
}

extension CustomTestStringConvertibleShim {
    var description: String { name }
}

enum VectorError: Error, CustomStringConvertible {
    case malformed(String)

    var description: String {
        switch self {
        case .malformed(let message): "malformed vector: \(message)"
        }
    }
}

extension ByteBuffer {
    /// A buffer holding the UTF-8 bytes of `string`.
    init(vectorText string: String) {
        self.init(string: string)
    }

    /// A buffer holding the bytes that `base64` (standard alphabet, padded) encodes.
    init(vectorBase64 base64: String) throws {
        guard let data = Data(base64Encoded: base64) else { throw VectorError.malformed("bad base64 \(base64)") }
        self.init(bytes: data)
    }
}
