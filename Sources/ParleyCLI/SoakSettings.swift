import NIOCore

/// What every soak client is told: how long it lives, how often it talks, the prebuilt bodies
/// of its messages and how long each leave path may take.
struct SoakSettings: Sendable {
    /// Clients cycle through every transport × leave path of these.
    var transports: [BenchTransport]
    var leaves: [SoakLeave]
    /// Between two messages of one client (jittered ±50 %).
    var actionIntervalNanos: UInt64
    /// A client's active life, once connected and joined, is uniform in this range.
    var lifeNanos: ClosedRange<UInt64>
    /// An ack later than this is an error.
    var ackTimeoutNanos: UInt64 = 5_000_000_000
    /// How long the server may take to end a session after the client's goodbye.
    var goodbyeTimeoutNanos: UInt64 = 5_000_000_000
    /// Slack on top of pingInterval + pingTimeout before a silent client checks that the
    /// server closed it.
    var heartbeatSlackNanos: UInt64 = 3_000_000_000
    /// After a client that stopped reading reads again: how long the end of the session may take to show.
    var resumeTimeoutNanos: UInt64 = 5_000_000_000
    /// `["echo","xxx..."]`.
    var echo: ByteBuffer
    /// `["join","soak-<n>"]`, per room.
    var joins: [ByteBuffer]
    /// `["broadcast","soak-<n>","xxx..."]`, per room.
    var broadcasts: [ByteBuffer]

    init(transports: [BenchTransport], leaves: [SoakLeave], actionInterval: Double, life: ClosedRange<Double>, rooms: Int, payloadBytes: Int) {
        self.transports = transports
        self.leaves = leaves
        actionIntervalNanos = BenchClock.nanoseconds(actionInterval)
        lifeNanos = BenchClock.nanoseconds(life.lowerBound)...BenchClock.nanoseconds(life.upperBound)
        echo = EchoClient.request(payloadBytes: payloadBytes)
        let payload = String(repeating: "x", count: payloadBytes)
        joins = (0..<rooms).map { ByteBuffer(string: "[\"join\",\"soak-\($0)\"]") }
        broadcasts = (0..<rooms).map { ByteBuffer(string: "[\"broadcast\",\"soak-\($0)\",\"\(payload)\"]") }
    }
}
