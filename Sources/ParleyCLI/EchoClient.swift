import NIOCore
import Synchronization

/// A client of the echo and polling scenarios: emits `2<id>["echo","xxx..."]` and times the
/// ack `3<id>[...]` from the instant the emit was *scheduled* (open loop) or sent (closed loop).
final class EchoClient: BenchSocket {
    /// `["echo","xxx..."]`, shared by every emit.
    private let request: ByteBuffer
    private var nextID: UInt64 = 0
    /// Scheduled instants of the emits not yet acked, from id `firstPendingID` on; 0 = acked.
    private var pending = CircularBuffer<UInt64>(initialCapacity: 16)
    private var firstPendingID: UInt64 = 0
    private var closedLoopUntil: UInt64?
    /// Set while the client has written packets that are not flushed yet (open loop bursts).
    var needsFlush = false

    init(loop: any EventLoop, shard: StatsShardBox, startedAt: UInt64, request: ByteBuffer) {
        self.request = request
        super.init(loop: loop, shard: shard, startedAt: startedAt)
    }

    /// The shared request body for `payloadBytes` bytes of payload: `["echo","xxx..."]`.
    static func request(payloadBytes: Int) -> ByteBuffer {
        var buffer = ByteBuffer(string: "[\"echo\",\"")
        buffer.writeRepeatingByte(UInt8(ascii: "x"), count: payloadBytes)
        buffer.writeString("\"]")
        return buffer
    }

    /// Writes one emit (without flushing) scheduled for `scheduledAt`.
    func emit(scheduledAt: UInt64) {
        guard isConnected else { return }
        var packet = makePacket(capacity: request.readableBytes + 21)
        packet.writeInteger(UInt8(ascii: "2"))
        packet.writeDecimal(nextID)
        packet.writeImmutableBuffer(request)
        nextID += 1
        pending.append(scheduledAt)
        shard.state.withLock { $0.sent += 1 }
        send(packet)
    }

    /// Closed loop: emits now, then the next emit as soon as each ack arrives, until `end`.
    func startClosedLoop(until end: UInt64) {
        closedLoopUntil = end
        emit(scheduledAt: BenchClock.now())
        flush()
    }

    override func packetReceived(_ packet: ByteBuffer) {
        var packet = packet
        guard packet.readInteger(as: UInt8.self) == UInt8(ascii: "3"), let id = packet.readDecimal(),
            id >= firstPendingID, id - firstPendingID < UInt64(pending.count)
        else { return }
        let index = pending.index(pending.startIndex, offsetBy: Int(id - firstPendingID))
        let scheduledAt = pending[index]
        guard scheduledAt != 0 else { return }  // a duplicate ack
        pending[index] = 0
        while pending.first == 0 {
            pending.removeFirst()
            firstPendingID += 1
        }
        let now = BenchClock.now()
        shard.state.withLock { $0.recordCompletion(scheduledAt: scheduledAt, now: now) }
        if let end = closedLoopUntil, now < end {
            emit(scheduledAt: now)
            flush()
        }
    }
}
