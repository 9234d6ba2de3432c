import Logging
import ParleyClient
import Synchronization

/// One subscriber of the storm: its own `SocketManager`, one room, and a per-room sequence
/// checker fed by its `msg` handler.
final class StormClient: Sendable {
    let room: String
    let manager: SocketManager
    let socket: ClientSocket
    private let state = Mutex(Tally())

    struct Tally {
        /// Sequences received, as a bitmap indexed by sequence.
        var seen: [Bool] = []
        var received = 0
        var duplicates = 0
        var first: Int?
        var connects = 0
        var joined = false
        /// Connects after the server was killed, and the first recovered one's instant.
        var reconnectsAfterKill = 0
        var freshReconnects = 0
        var recoveredAt: ContinuousClock.Instant?
        var reconnectsBeforeKill = 0
    }

    init(room: String, manager: SocketManager) {
        self.room = room
        self.manager = manager
        self.socket = manager.socket()
    }

    var tally: Tally { state.withLock { $0 } }

    /// Installs the handlers; `connected` runs on every connect with `recovered` and whether it
    /// came after the kill, after this client's tally has counted it.
    func listen(killed: @escaping @Sendable () -> Bool, connected: @escaping @Sendable (_ client: StormClient, _ recovered: Bool) -> Void) {
        socket.on("msg") { [self] event in
            let sequence = try event.argument(0, as: Int.self)
            state.withLock { $0.record(sequence) }
        }
        socket.onConnect { [self] in
            let recovered = socket.recovered
            let afterKill = killed()
            state.withLock { tally in
                tally.connects += 1
                guard tally.connects > 1 else { return }
                if !afterKill {
                    tally.reconnectsBeforeKill += 1
                } else {
                    tally.reconnectsAfterKill += 1
                    if recovered {
                        if tally.recoveredAt == nil { tally.recoveredAt = .now }
                    } else {
                        tally.freshReconnects += 1
                    }
                }
            }
            connected(self, recovered)
        }
    }

    /// Joins the room, trying again until the server acknowledges.
    func join() async {
        while !Task.isCancelled {
            do {
                _ = try await socket.emitWithAck("join", room, timeout: .seconds(20))
                state.withLock { $0.joined = true }
                return
            } catch {
                try? await Task.sleep(for: .milliseconds(200))  // cancelled: the loop ends
            }
        }
    }

    /// Whether every sequence up to `last` arrived.
    func hasAll(upTo last: Int) -> Bool {
        state.withLock { tally in
            guard last >= 0 else { return true }
            guard tally.seen.count > last else { return false }
            return !tally.seen[(tally.first ?? 0)...last].contains(false)
        }
    }
}

extension StormClient.Tally {
    mutating func record(_ sequence: Int) {
        guard sequence >= 0 else { return }
        received += 1
        if seen.count <= sequence { seen.append(contentsOf: repeatElement(false, count: sequence + 1 - seen.count)) }
        if seen[sequence] {
            duplicates += 1
        } else {
            seen[sequence] = true
        }
        first = min(first ?? sequence, sequence)
    }

    /// Sequences missing between the first received and `last`; all of them when none came.
    func gaps(upTo last: Int) -> Int {
        guard last >= 0 else { return 0 }
        guard let first else { return last + 1 }
        return (first...last).count { $0 >= seen.count || !seen[$0] }
    }
}
