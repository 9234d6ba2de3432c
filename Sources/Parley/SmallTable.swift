/// A few values by name, searched in order: lighter than a dictionary, and as fast, for the
/// handful of entries a socket has (its event handlers, a connection's namespaces). Every
/// connection keeps some, so their size counts.
struct SmallTable<Value> {
    private var entries: [(name: String, value: Value)] = []

    var isEmpty: Bool { entries.isEmpty }

    /// The values, in insertion order.
    var values: [Value] { entries.map(\.value) }

    subscript(name: String) -> Value? {
        get {
            for entry in entries where entry.name == name { return entry.value }
            return nil
        }
        set {
            if let index = entries.firstIndex(where: { $0.name == name }) {
                if let newValue {
                    entries[index].value = newValue
                } else {
                    entries.remove(at: index)
                }
            } else if let newValue {
                entries.append((name, newValue))
            }
        }
    }

    /// Removes and returns the value stored under `name`.
    mutating func removeValue(forKey name: String) -> Value? {
        guard let index = entries.firstIndex(where: { $0.name == name }) else { return nil }
        return entries.remove(at: index).value
    }

    mutating func removeAll() {
        entries.removeAll()
    }
}

extension SmallTable: Sendable where Value: Sendable {}
