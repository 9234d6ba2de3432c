import Foundation

/// The storm's figures, printed as `key: value` lines.
struct StormReport {
    let clients: Int
    let rooms: Int
    let rate: Double
    var allBack = false
    var settled = false
    var recoveredTimes: [Duration] = []
    var listening: Duration = .zero
    var publisher = StormPublisher.Counts()
    /// Publishes started before the kill (in how many seconds) and after the restart.
    var published = (before: 0, beforeSeconds: 0.0, afterRestart: 0, afterSeconds: 0.0)
    /// Seconds from the restart until every client was back (or the limit), and the CPU
    /// seconds the server and this process used meanwhile.
    var recoveryCPU = (window: 0.0, server: 0.0, generator: 0.0)
    var reconnectAttempts = 0

    init(clients: Int, rooms: Int, rate: Double) {
        self.clients = clients
        self.rooms = rooms
        self.rate = rate
    }

    private var recoveredClients = 0
    private var freshClients = 0
    private var freshReconnects = 0
    private var reconnectsBeforeKill = 0
    private var gapsRecovered = 0
    private var gapsFresh = 0
    private var clientsWithGaps = 0
    private var duplicates = 0
    private var received = 0
    private var lateStarts = 0

    /// Adds one client's tally, `last` being the last sequence published to its room.
    mutating func add(_ tally: StormClient.Tally, last: Int) {
        let gaps = tally.gaps(upTo: last)
        if tally.freshReconnects > 0 {
            freshClients += 1
            gapsFresh += gaps
        } else {
            gapsRecovered += gaps
        }
        if tally.recoveredAt != nil { recoveredClients += 1 }
        if gaps > 0 { clientsWithGaps += 1 }
        if (tally.first ?? 0) > 0 { lateStarts += 1 }
        freshReconnects += tally.freshReconnects
        reconnectsBeforeKill += tally.reconnectsBeforeKill
        duplicates += tally.duplicates
        received += tally.received
    }

    /// The time until `fraction` of all clients were back recovered; nil if they never were.
    func timeToRecover(_ fraction: Double) -> Duration? {
        let needed = Int((Double(clients) * fraction).rounded(.up))
        guard needed >= 1, recoveredTimes.count >= needed else { return nil }
        return recoveredTimes[needed - 1]
    }

    func print() {
        func time(_ duration: Duration?) -> String { duration.map(format) ?? "not reached" }
        let lines: [(String, String)] = [
            ("clients", "\(clients)"),
            ("rooms", "\(rooms)"),
            ("publish rate", "\(Int(rate))/s"),
            ("server listening again after (from the restart)", format(listening)),
            ("time to 99 % recovered (from the restart)", time(timeToRecover(0.99))),
            ("time to 100 % recovered (from the restart)", time(timeToRecover(1))),
            ("time to 50 % / 90 % recovered", "\(time(timeToRecover(0.5))) / \(time(timeToRecover(0.9)))"),
            ("reconnection attempts (delays served)", "\(reconnectAttempts)"),
            ("CPU until every client was back: server / generator", String(format: "%.2f s / %.2f s of %.2f s", recoveryCPU.server, recoveryCPU.generator, recoveryCPU.window)),
            ("clients recovered", "\(recoveredClients)"),
            ("reconnects with recovered == false (clients)", "\(freshReconnects) (\(freshClients))"),
            ("reconnects before the kill", "\(reconnectsBeforeKill)"),
            ("gaps, clients that recovered", "\(gapsRecovered)"),
            ("gaps, clients that got a fresh socket", "\(gapsFresh)"),
            ("clients with gaps", "\(clientsWithGaps)"),
            ("clients whose first message was not sequence 0", "\(lateStarts)"),
            ("duplicates", "\(duplicates)"),
            ("messages published (distinct room, seq)", "\(publisher.started)"),
            ("  before the kill / in the first seconds after the restart",
             String(format: "%d in %.1f s / %d in %.1f s", published.before, published.beforeSeconds, published.afterRestart, published.afterSeconds)),
            ("publishes acknowledged", "\(publisher.acknowledged)"),
            ("publish retries", "\(publisher.retries)"),
            ("deliveries received", "\(received)"),
            ("every client back within the limit", "\(allBack)"),
            ("deliveries settled", "\(settled)"),
        ]
        // Written at once, unbuffered: the output is wanted even if the shutdown after it hangs.
        let text = lines.map { "\($0.0): \($0.1)\n" }.joined()
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
