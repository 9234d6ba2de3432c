import NIOCore

/// Drives the open-loop emits of the clients of one event loop: one pacer at the loop's share
/// of the total rate, round-robin over its clients, one flush per client per burst.
final class EchoLoopDriver {
    private let clients: [EchoClient]
    private var unflushed: [EchoClient] = []

    init(clients: [EchoClient]) {
        self.clients = clients
    }

    /// Starts emitting `rate` messages per second between `start` and `end`; runs on `loop`.
    func start(loop: any EventLoop, rate: Double, start: UInt64, end: UInt64) {
        guard !clients.isEmpty, rate > 0 else { return }
        let pacer = Pacer(
            loop: loop,
            rate: rate,
            start: start,
            end: end,
            fire: { sequence, scheduledAt in
                let client = self.clients[Int(sequence % UInt64(self.clients.count))]
                client.emit(scheduledAt: scheduledAt)
                if !client.needsFlush {
                    client.needsFlush = true
                    self.unflushed.append(client)
                }
            },
            batchEnded: {
                for client in self.unflushed {
                    client.needsFlush = false
                    client.flush()
                }
                self.unflushed.removeAll(keepingCapacity: true)
            }
        )
        pacer.start()  // its timer keeps it (and so this driver) alive until the end
    }
}
