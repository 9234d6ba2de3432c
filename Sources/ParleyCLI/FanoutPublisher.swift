import NIOCore
import Synchronization

/// The publisher of the fan-out scenario: emits `2["broadcast","<room>","<ns>|xxx..."]`
/// (BenchServer's `broadcast(room, payload)`), the payload starting with the instant the send
/// was scheduled for and padded with `x` to `payloadBytes` characters.
final class FanoutPublisher: BenchSocket {
    private let prefix: ByteBuffer
    private let payloadBytes: Int

    init(loop: any EventLoop, shard: StatsShardBox, startedAt: UInt64, room: String, payloadBytes: Int) {
        self.prefix = ByteBuffer(string: "2[\"broadcast\",\(BenchReport.jsonString(room)),\"")
        self.payloadBytes = payloadBytes
        super.init(loop: loop, shard: shard, startedAt: startedAt)
    }

    /// Sends one broadcast stamped with `scheduledAt`.
    func publish(scheduledAt: UInt64) {
        guard isConnected else { return }
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
