/// A JSON value as an independent peer printed it, for assertions on its observations.
///
/// Numbers are `Double`s, as in JavaScript; object member order is not kept. String literals
/// stand for `.string`, so `observation["event"] == "connect"` reads naturally.
public enum JSONValue: Sendable, Equatable, Decodable, CustomStringConvertible, ExpressibleByStringLiteral {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Creates `.string(value)`.
    public init(stringLiteral value: String) { self = .string(value) }

    /// Decodes any JSON value.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// The member named `key` of an object; `nil` for a missing member or another kind of value.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The text of a string; `nil` for another kind of value.
    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The value of a number; `nil` for another kind of value.
    public var number: Double? {
        if case .number(let value) = self { return value }
        return nil
    }

    /// The elements of an array; `nil` for another kind of value.
    public var array: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// Compact JSON-like text with sorted object keys (strings are not escaped), for messages.
    public var description: String {
        switch self {
        case .null: "null"
        case .bool(let value): "\(value)"
        case .number(let value): "\(value)"
        case .string(let value): "\"\(value)\""
        case .array(let values): "[\(values.map(\.description).joined(separator: ","))]"
        case .object(let members): "{\(members.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ","))}"
        }
    }
}
