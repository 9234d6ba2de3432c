import Logging
import NIOCore
import ParleyEngine
import ParleyProtocol
import Synchronization
import NIOConcurrencyHelpers

/// What every connection of one Socket.IO server shares: configuration, namespaces and the
/// connections by transport.
final class SocketServerCore: Sendable {
    let configuration: SocketServerConfiguration
    let logger: Logger
    private let namespaces = NIOLockedValueBox<[String: Namespace]>([:])
    private let dynamicParents = NIOLockedValueBox<[(matches: @Sendable (String) -> Bool, parent: Namespace)]>([])
    private let clients = NIOLockedValueBox<[ObjectIdentifier: SocketClient]>([:])
    /// Middlewares and async handlers in flight, owned by the server.
    let tasks = HandlerTasks()
    /// Connection state recovery, when on.
    let recovery: RecoveryRuntime?
    /// Reliable delivery, when on.
    let reliable: ReliableRuntime?

    init(configuration: SocketServerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.recovery = configuration.connectionStateRecovery.map { RecoveryRuntime(configuration: $0, logger: logger) }
        let tasks = self.tasks
        self.reliable = configuration.reliableDelivery.map { ReliableRuntime(configuration: $0, tasks: tasks, logger: logger) }
        reliable?.attach(to: self)
    }

    /// The number of connections the Socket.IO layer knows (tests, shutdown).
    var clientCount: Int { clients.withLockedValue { $0.count } }

    /// The namespace called `name`, created if needed.
    func namespace(named name: String) -> Namespace {
        namespaces.withLockedValue { namespaces in
            if let existing = namespaces[name] { return existing }
            let namespace = Namespace(name: name, core: self)
            namespaces[name] = namespace
            return namespace
        }
    }

    /// The namespace called `name` if it exists (dynamic children included).
    func existingNamespace(named name: String) -> Namespace? {
        namespaces.withLockedValue { $0[name] }
    }

    /// A parent for namespaces created on demand when a client asks for a matching name.
    func dynamicNamespace(matching predicate: @escaping @Sendable (String) -> Bool) -> Namespace {
        let parent = Namespace(name: "<dynamic>", core: self)
        dynamicParents.withLockedValue { $0.append((predicate, parent)) }
        return parent
    }

    /// Where a CONNECT for `name` goes: an existing namespace, or the first dynamic template
    /// whose predicate accepts the name (the child is created only once its middlewares let
    /// the socket in); `nil` for an unknown name.
    func namespace(forConnecting name: String) -> NamespaceTarget? {
        if let existing = namespaces.withLockedValue({ $0[name] }) { return .existing(existing) }
        let parents = dynamicParents.withLockedValue { $0 }
        guard let match = parents.first(where: { $0.matches(name) }) else { return nil }
        return .dynamic(template: match.parent)
    }

    /// Adds `socket`'s id to the dynamic child `name` of `template`, creating the child if
    /// needed; `nil` when ``SocketServerConfiguration/maxDynamicNamespaces`` exist already.
    /// Creation and the first member go in under one lock, so an empty child being removed
    /// never takes a new member with it.
    func joinDynamicNamespace(_ name: String, template: Namespace, _ add: (Namespace) -> Void) -> Namespace? {
        namespaces.withLockedValue { namespaces in
            if let existing = namespaces[name] {
                add(existing)
                return existing
            }
            let dynamicCount = namespaces.values.lazy.filter(\.isDynamicChild).count
            guard dynamicCount < configuration.maxDynamicNamespaces else { return nil }
            let child = Namespace(name: name, core: self, inheriting: template)
            namespaces[name] = child
            add(child)
            return child
        }
    }

    /// Removes `namespace` if it is a dynamic child with no socket left.
    func removeIfEmpty(_ namespace: Namespace) {
        guard namespace.isDynamicChild else { return }
        namespaces.withLockedValue { namespaces in
            guard namespaces[namespace.name] === namespace, namespace.isEmpty else { return }
            namespaces.removeValue(forKey: namespace.name)
        }
    }

    /// The number of namespaces that exist (tests and metrics).
    var namespaceCount: Int { namespaces.withLockedValue { $0.count } }

    // MARK: Connections

    func opened(_ transport: any SocketTransport) {
        let client = SocketClient(transport: transport, core: self)
        clients.withLockedValue { $0[ObjectIdentifier(transport)] = client }
        client.opened()
    }

    func received(_ message: EngineMessage, on transport: any SocketTransport) {
        clients.withLockedValue { $0[ObjectIdentifier(transport)] }?.received(message)
    }

    func closed(_ transport: any SocketTransport, reason: EngineCloseReason) {
        clients.withLockedValue { $0.removeValue(forKey: ObjectIdentifier(transport)) }?.transportClosed(reason)
    }
}

/// Where a CONNECT goes.
enum NamespaceTarget {
    case existing(Namespace)
    /// A namespace to create from a dynamic template once the socket is let in.
    case dynamic(template: Namespace)

    /// The namespace whose middlewares run for the CONNECT.
    var middlewareSource: Namespace {
        switch self {
        case .existing(let namespace): namespace
        case .dynamic(let template): template
        }
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
