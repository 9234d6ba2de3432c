/// A reportable failure of the load generator itself (bad arguments, unreachable server).
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
