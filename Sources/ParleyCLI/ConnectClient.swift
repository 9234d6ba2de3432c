import Synchronization

/// A client of the connect scenario: ready on the CONNECT reply, which also ends its connect
/// latency (from the instant it was scheduled to start: TCP connect, engine open, CONNECT).
final class ConnectClient: BenchSocket {
    override func socketConnected() {
        let now = BenchClock.now()
        shard.state.withLock { $0.recordLatency(nanoseconds: now &- startedAt) }
        markReady()
    }
}
