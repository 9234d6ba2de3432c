import Logging
import NIOCore
import Synchronization

/// What every connection handler of one server shares: configuration, the application's
/// handler and the session registry.
final class EngineServerCore: Sendable {
    let configuration: EngineConfiguration
    let handler: any EngineHandler
    let logger: Logger
    let cors: CORSPolicy
    private let sessions = Mutex<[String: EngineSession]>([:])
    private let connections = Mutex<[ObjectIdentifier: any Channel]>([:])
    private let flushers = Mutex<[ObjectIdentifier: LoopFlusher]>([:])
    private let admission: Mutex<SessionAdmission>

    init(configuration: EngineConfiguration, handler: any EngineHandler, logger: Logger) {
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
        self.cors = CORSPolicy(configuration: configuration.cors)
        self.admission = Mutex(SessionAdmission(limits: configuration.limits, now: .now()))
    }

    /// Takes a place for a new session of `request`'s client, or says which limit refuses it.
    /// Every admitted session gives its place back in ``sessionFinished(_:)``.
    func admitSession(for request: EngineRequest) -> EngineRequestError? {
        let address = request.remoteAddress?.ipAddress
        return admission.withLock { $0.admit(address: address, now: .now()) }
    }

    /// The live session with this id.
    func session(id: String) -> EngineSession? {
        sessions.withLock { $0[id] }
    }

    /// The limit that would refuse a session of `request`'s client now, taking no place.
    func checkSession(for request: EngineRequest) -> EngineRequestError? {
        let address = request.remoteAddress?.ipAddress
        return admission.withLock { $0.check(address: address, now: .now()) }
    }

    /// Makes a new session findable by its id.
    func register(_ session: EngineSession) {
        sessions.withLock { $0[session.id] = session }
    }

    /// Forgets a session that ended.
    func sessionFinished(_ session: EngineSession) {
        let removed = sessions.withLock { $0.removeValue(forKey: session.id) } != nil
        if removed {
            let address = session.request.remoteAddress?.ipAddress
            admission.withLock { $0.released(address: address) }
        }
    }

    /// Every live session.
    var allSessions: [EngineSession] {
        sessions.withLock { Array($0.values) }
    }

    var sessionCount: Int {
        sessions.withLock { $0.count }
    }

    /// The flusher of `eventLoop`'s sessions.
    func flusher(for eventLoop: any EventLoop) -> LoopFlusher {
        flushers.withLock { flushers in
            let id = ObjectIdentifier(eventLoop)
            if let flusher = flushers[id] { return flusher }
            let flusher = LoopFlusher(eventLoop: eventLoop)
            flushers[id] = flusher
            return flusher
        }
    }

    /// Tracks an accepted connection until it closes, so shutdown can close it.
    ///
    /// - Returns: `false` when ``EngineConfiguration/Limits/maxConnections`` are open already;
    ///   the connection is then not tracked and must be refused.
    func connectionOpened(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let limit = configuration.limits.maxConnections ?? .max
        let admitted = connections.withLock { connections in
            guard connections.count < limit else { return false }
            connections[id] = channel
            return true
        }
        guard admitted else { return false }
        channel.closeFuture.whenComplete { _ in
            self.connections.withLock { _ = $0.removeValue(forKey: id) }
        }
        return true
    }

    var connectionCount: Int {
        connections.withLock { $0.count }
    }

    var openConnections: [any Channel] {
        connections.withLock { Array($0.values) }
    }
}

/// The session limits' bookkeeping: sessions per client address and a token bucket of
/// handshakes per second. Pure state behind the core's lock.
struct SessionAdmission {
    let limits: EngineConfiguration.Limits
    private var perAddress: [String: Int] = [:]
    private var tokens: Double
    private var refilledAt: NIODeadline

    init(limits: EngineConfiguration.Limits, now: NIODeadline) {
        self.limits = limits
        self.tokens = Double(limits.maxHandshakesPerSecond ?? 0)
        self.refilledAt = now
    }

    /// Takes a place for a session from `address`, or names the limit that refuses it.
    mutating func admit(address: String?, now: NIODeadline) -> EngineRequestError? {
        if let refusal = check(address: address, now: now) { return refusal }
        if let rate = limits.maxHandshakesPerSecond {
            tokens = tokensAvailable(now: now, rate: rate) - 1
            refilledAt = now
        }
        if let address, limits.maxSessionsPerAddress != nil {
            perAddress[address, default: 0] += 1
        }
        return nil
    }

    /// The limit that would refuse a session from `address` now, taking nothing (and copying
    /// nothing: this runs for every WebSocket handshake).
    func check(address: String?, now: NIODeadline) -> EngineRequestError? {
        if let rate = limits.maxHandshakesPerSecond, tokensAvailable(now: now, rate: rate) < 1 {
            return .serverBusy
        }
        if let address, let limit = limits.maxSessionsPerAddress, perAddress[address, default: 0] >= limit {
            return .tooManySessions
        }
        return nil
    }

    /// The bucket's tokens at `now`: refilled at `rate` per second, at most `rate`.
    private func tokensAvailable(now: NIODeadline, rate: Int) -> Double {
        let elapsed = Double((now - refilledAt).nanoseconds) / 1e9
        return min(Double(rate), tokens + max(0, elapsed) * Double(rate))
    }

    /// A session from `address` ended.
    mutating func released(address: String?) {
        guard let address, limits.maxSessionsPerAddress != nil, let count = perAddress[address] else { return }
        if count <= 1 {
            perAddress.removeValue(forKey: address)
        } else {
            perAddress[address] = count - 1
        }
    }

    /// The number of sessions open from `address` (tests).
    func sessions(from address: String) -> Int { perAddress[address, default: 0] }
}
