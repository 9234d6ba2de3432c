import Logging
import NIOCore
import ParleyEngine
import ParleyProtocol
import Synchronization

/// What every connection of one Socket.IO server shares: configuration, namespaces and the
/// connections by transport.
final class SocketServerCore: Sendable {
    let configuration: SocketServerConfiguration
    let logger: Logger
    private let namespaces = Mutex<[String: Namespace]>([:])
    private let dynamicParents = Mutex<[(matches: @Sendable (String) -> Bool, parent: Namespace)]>([])
    private let clients = Mutex<[ObjectIdentifier: SocketClient]>([:])

    init(configuration: SocketServerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// The namespace called `name`, created if needed.
    func namespace(named name: String) -> Namespace {
        namespaces.withLock { namespaces in
            if let existing = namespaces[name] { return existing }
            let namespace = Namespace(name: name, core: self)
            namespaces[name] = namespace
            return namespace
        }
    }

    /// A parent for namespaces created on demand when a client asks for a matching name.
    func dynamicNamespace(matching predicate: @escaping @Sendable (String) -> Bool) -> Namespace {
        let parent = Namespace(name: "<dynamic>", core: self)
        dynamicParents.withLock { $0.append((predicate, parent)) }
        return parent
    }

    /// The namespace a CONNECT for `name` joins: an existing one, or a child of the first
    /// matching dynamic parent; `nil` for an unknown name.
    func namespace(forConnecting name: String) -> Namespace? {
        if let existing = namespaces.withLock({ $0[name] }) { return existing }
        let parents = dynamicParents.withLock { $0 }
        guard let match = parents.first(where: { $0.matches(name) }) else { return nil }
        return namespaces.withLock { namespaces in
            if let existing = namespaces[name] { return existing }
            let child = Namespace(name: name, core: self, inheriting: match.parent)
            namespaces[name] = child
            return child
        }
    }

    // MARK: Connections

    func opened(_ transport: any SocketTransport) {
        let client = SocketClient(transport: transport, core: self)
        clients.withLock { $0[ObjectIdentifier(transport)] = client }
        client.opened()
    }

    func received(_ message: EngineMessage, on transport: any SocketTransport) {
        clients.withLock { $0[ObjectIdentifier(transport)] }?.received(message)
    }

    func closed(_ transport: any SocketTransport, reason: EngineCloseReason) {
        clients.withLock { $0.removeValue(forKey: ObjectIdentifier(transport)) }?.transportClosed(reason)
    }
}

/// Connects the engine's session events to the Socket.IO layer.
struct SocketEngineHandler: EngineHandler {
    let core: SocketServerCore

    func sessionOpened(_ session: EngineSession) {
        core.opened(session)
    }

    func session(_ session: EngineSession, received message: EngineMessage) {
        core.received(message, on: session)
    }

    func session(_ session: EngineSession, closedWith reason: EngineCloseReason) {
        core.closed(session, reason: reason)
    }
}
