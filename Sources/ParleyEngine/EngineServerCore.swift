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

    init(configuration: EngineConfiguration, handler: any EngineHandler, logger: Logger) {
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
        self.cors = CORSPolicy(configuration: configuration.cors)
    }

    /// The live session with this id.
    func session(id: String) -> EngineSession? {
        sessions.withLock { $0[id] }
    }

    /// Makes a new session findable by its id.
    func register(_ session: EngineSession) {
        sessions.withLock { $0[session.id] = session }
    }

    /// Forgets a session that ended.
    func sessionFinished(_ session: EngineSession) {
        sessions.withLock { _ = $0.removeValue(forKey: session.id) }
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
    func connectionOpened(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        connections.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { _ in
            self.connections.withLock { _ = $0.removeValue(forKey: id) }
        }
    }

    var openConnections: [any Channel] {
        connections.withLock { Array($0.values) }
    }
}
