import Foundation
import Synchronization

/// Application data attached to a socket: any `Sendable` values by key.
///
/// With connection state recovery on, the data goes with the socket's session: a recovered
/// socket gets it back. Values that are `Encodable` are kept in the store as JSON and survive
/// a restart of the server (read them back with ``get(_:as:)`` and a `Decodable` type); other
/// values are kept in memory only. After a reconnect to the same process every value comes
/// back as it was; after a restart only the encodable ones do, and the others are absent.
public final class SocketData: Sendable {
    private let values: Mutex<[String: any Sendable]>

    init(_ values: [String: any Sendable] = [:]) {
        self.values = Mutex(values)
    }

    /// The value stored under `key`.
    public subscript(key: String) -> (any Sendable)? {
        get { values.withLock { $0[key] } }
        set { values.withLock { $0[key] = newValue } }
    }

    /// The value stored under `key`, if it has type `T`.
    public func get<T: Sendable>(_ key: String, as type: T.Type = T.self) -> T? {
        self[key] as? T
    }

    /// The value stored under `key` as `T`: the value itself, or, after a restart of the
    /// server, `T` decoded from what the store kept.
    public func get<T: Decodable & Sendable>(_ key: String, as type: T.Type = T.self) -> T? {
        switch self[key] {
        case let value as T: return value
        case let stored as StoredJSON:
            guard let value = try? JSONDecoder().decode(T.self, from: stored.bytes) else { return nil }
            self[key] = value
            return value
        default: return nil
        }
    }

    /// Every value, as stored.
    var all: [String: any Sendable] { values.withLock { $0 } }

    /// The encodable values as one JSON object of JSON texts.
    func encodedSnapshot() -> [UInt8] {
        let all = self.all
        guard !all.isEmpty else { return Array("{}".utf8) }
        var texts: [String: String] = [:]
        let encoder = JSONEncoder()
        for (key, value) in all {
            if let stored = value as? StoredJSON {
                texts[key] = String(decoding: stored.bytes, as: UTF8.self)
            } else if let encodable = value as? any Encodable, let json = try? encoder.encode(encodable) {
                texts[key] = String(decoding: json, as: UTF8.self)
            }
        }
        // Best effort: a dictionary of strings always encodes.
        let json = (try? encoder.encode(texts)) ?? Data("{}".utf8)
        return Array(json)
    }

    /// Data restored from a session: the values kept in memory when there are (same process),
    /// otherwise the stored JSON texts.
    convenience init(restoring json: [UInt8], kept: [String: any Sendable]) {
        var values: [String: any Sendable] = [:]
        if !kept.isEmpty {
            self.init(kept)
            return
        }
        if let texts = try? JSONDecoder().decode([String: String].self, from: Data(json)) {
            for (key, text) in texts { values[key] = StoredJSON(bytes: Data(text.utf8)) }
        }
        self.init(values)
    }
}

/// A data value as the store kept it, decoded on first read with the type the reader asks for.
struct StoredJSON: Sendable {
    let bytes: Data
}
