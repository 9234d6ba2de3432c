import NIOCore
import Synchronization

/// A subscriber of the fan-out scenario: joins the room (ready on the join ack), then times
/// every `msg` from the send instant the publisher embedded at the start of the payload.
final class FanoutSubscriber: BenchSocket {
    private static let argumentStart: [UInt8] = Array(",\"".utf8)
    /// `["join","<room>"]`.
    private let join: ByteBuffer

    init(loop: any EventLoop, shard: StatsShardBox, startedAt: UInt64, room: String) {
        self.join = ByteBuffer(string: "[\"join\",\(BenchReport.jsonString(room))]")
        super.init(loop: loop, shard: shard, startedAt: startedAt)
    }

    override func socketConnected() {
        var packet = makePacket(capacity: join.readableBytes + 2)
        packet.writeString("20")  // EVENT asking for ack 0
        packet.writeImmutableBuffer(join)
        send(packet)
        flush()
    }

    override func packetReceived(_ packet: ByteBuffer) {
        switch packet.firstByte {
        case UInt8(ascii: "2"):
            // 2["msg","<nanoseconds>|xxx..."]: the digits after the first `,"`.
            var packet = packet
            guard let comma = packet.readableOffset(of: Self.argumentStart) else { return }
            packet.moveReaderIndex(forwardBy: comma + Self.argumentStart.count)
            guard let sentAt = packet.readDecimal() else { return }
            let now = BenchClock.now()
            shard.state.withLock { $0.recordCompletion(scheduledAt: sentAt, now: now) }
        case UInt8(ascii: "3"):
            markReady()  // the join ack
        default:
            break
        }
    }
}
