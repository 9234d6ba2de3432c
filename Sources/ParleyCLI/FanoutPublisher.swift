import NIOCore
import Synchronization

/// The publisher of the fan-out scenario: emits `2["broadcast","<room>","<ns>|xxx..."]`
/// (BenchServer's `broadcast(room, payload)`), the payload starting with the instant the send
/// was scheduled for and padded with `x` to `payloadBytes` characters. With several rooms it
/// takes them in turn.
final class FanoutPublisher: BenchSocket {
    private let prefixes: [ByteBuffer]
    private let payloadBytes: Int
    private var nextRoom = 0

    init(loop: any EventLoop, shard: StatsShardBox, startedAt: UInt64, rooms: [String], payloadBytes: Int) {
        precondition(!rooms.isEmpty, "a publisher needs a room")
        self.prefixes = rooms.map { ByteBuffer(string: "2[\"broadcast\",\(BenchReport.jsonString($0)),\"") }
        self.payloadBytes = payloadBytes
        super.init(loop: loop, shard: shard, startedAt: startedAt)
    }

    /// Sends one broadcast stamped with `scheduledAt`, to the next room.
    func publish(scheduledAt: UInt64) {
        guard isConnected else { return }
        let prefix = prefixes[nextRoom]
        nextRoom = nextRoom + 1 == prefixes.count ? 0 : nextRoom + 1
        var packet = makePacket(capacity: prefix.readableBytes + max(payloadBytes, 21) + 2)
        packet.writeImmutableBuffer(prefix)
        let payloadStart = packet.writerIndex
        packet.writeDecimal(scheduledAt)
        packet.writeInteger(UInt8(ascii: "|"))
        let padding = payloadBytes - (packet.writerIndex - payloadStart)
        if padding > 0 { packet.writeRepeatingByte(UInt8(ascii: "x"), count: padding) }
        packet.writeString("\"]")
        shard.state.withLock { $0.sent += 1 }
        send(packet)
        flush()
    }
}
