import ParleyClient
import ParleyProtocol
import Synchronization

/// The storm's publisher: `publish(room, seq)` round-robin over the rooms at a fixed rate, each
/// awaited for its ack (the BenchServer acknowledges once the message is committed). A publish
/// whose ack fails or times out is sent again, same room and sequence, once the publisher is
/// connected again, so the publisher makes no gaps (and may make duplicates). At most
/// `maxInFlight` publishes wait for their acks (the server closes a connection with more than
/// `maxPendingHandlersPerConnection`, 256, handlers running); past it the publisher falls
/// behind its schedule.
final class StormPublisher: Sendable {
    let socket: ClientSocket
    let rooms: [String]
    private let state = Mutex(Counts())

    struct Counts {
        /// Distinct (room, sequence) pairs started.
        var started = 0
        var acknowledged = 0
        var retries = 0
        var inFlight = 0
    }

    init(socket: ClientSocket, rooms: [String]) {
        self.socket = socket
        self.rooms = rooms
    }

    var counts: Counts { state.withLock { $0 } }

    /// The last sequence published to room `index` (-1 for none), once publishing stopped.
    func lastSequence(ofRoom index: Int) -> Int {
        let started = counts.started
        let count = started / rooms.count + (index < started % rooms.count ? 1 : 0)
        return count - 1
    }

    /// Publishes at `rate` per second until `until()` says stop, then waits for every ack.
    func run(rate: Double, maxInFlight: Int, until stop: @escaping @Sendable () -> Bool) async {
        let start = ContinuousClock.now
        let interval = Duration.seconds(1 / rate)
        await withDiscardingTaskGroup { group in
            var index = 0
            while !stop(), !Task.isCancelled {
                try? await Task.sleep(until: start + interval * index)  // cancelled: the loop ends
                while state.withLock({ $0.inFlight >= maxInFlight }), !stop(), !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(1))  // cancelled: the loop ends
                }
                guard !stop() else { break }
                let room = rooms[index % rooms.count]
                let sequence = index / rooms.count
                state.withLock { counts in
                    counts.started += 1
                    counts.inFlight += 1
                }
                group.addTask { await self.publish(room: room, sequence: sequence) }
                index += 1
            }
        }
    }

    private func publish(room: String, sequence: Int) async {
        while !Task.isCancelled {
            while !socket.isConnected, !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(10))  // cancelled: the loop ends
            }
            do {
                let answer = try await socket.emitWithAck("publish", room, sequence, timeout: .seconds(5))
                if (try? answer.decode(Bool.self, at: 0)) == true {
                    state.withLock { counts in
                        counts.acknowledged += 1
                        counts.inFlight -= 1
                    }
                    return
                }
            } catch {
                // Timed out or disconnected: the server may or may not have it; send it again.
            }
            state.withLock { $0.retries += 1 }
        }
    }
}
