import Foundation
public import Logging
public import NIOCore
public import NIOPosix
public import ParleyEngine
public import ParleyProtocol
public import ServiceLifecycle
public import ParleyStore
import Synchronization

/// A Socket.IO v5 server: namespaces, events, acknowledgements, rooms and broadcasts over an
/// ``EngineServer``. Stock Socket.IO clients connect to it unchanged.
///
/// ```swift
/// let server = SocketServer(configuration: SocketServerConfiguration())
/// server.onConnection { socket in
///     socket.on("ping") { event in try event.ack("pong") }
/// }
/// try await server.run()
/// ```
public final class SocketServer: Service, Sendable {
    let core: SocketServerCore
    /// The Engine.IO server underneath.
    public let engine: EngineServer
    private let eventLoopGroup: any EventLoopGroup
    /// The task that owns the recovery log's writer and the handlers' tasks when the server
    /// was started with ``start()`` rather than run.
    private let startedWriter = Mutex<Task<Void, Never>?>(nil)

    /// Creates a server; nothing listens until ``start()`` or ``run()``.
    ///
    /// - Parameter onServerRunning: called by ``run()`` once the server listens (see
    ///   ``EngineServer``).
    public init(
        configuration: SocketServerConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "parley"),
        onServerRunning: (@Sendable (SocketAddress) async -> Void)? = nil
    ) {
        let core = SocketServerCore(configuration: configuration, logger: logger)
        self.core = core
        self.eventLoopGroup = eventLoopGroup
        self.engine = EngineServer(
            configuration: configuration.engineServingClientScript,
            handler: SocketEngineHandler(core: core),
            eventLoopGroup: eventLoopGroup,
            logger: logger,
            onServerRunning: onServerRunning
        )
    }

    /// The namespace called `name` (created if needed). The main namespace `/` exists only
    /// once something asks for it.
    @discardableResult
    public func of(_ name: String) -> Namespace {
        core.namespace(named: name.hasPrefix("/") ? name : "/" + name)
    }

    /// A template for namespaces created when a client connects to a name that `predicate`
    /// accepts: each one inherits the template's middlewares and connection handlers.
    @discardableResult
    public func of(matching predicate: @escaping @Sendable (String) -> Bool) -> Namespace {
        core.dynamicNamespace(matching: predicate)
    }

    /// Runs `handler` for every socket of the main namespace `/`.
    public func onConnection(_ handler: @escaping @Sendable (Socket) -> Void) {
        of("/").onConnection(handler)
    }

    /// A broadcast in the main namespace `/`.
    public var broadcast: BroadcastOperator { of("/").broadcast }

    /// A broadcast to `rooms` of the main namespace.
    public func to(_ rooms: String...) -> BroadcastOperator { broadcast.to(rooms) }

    /// Opens the recovery store if recovery is on, binds and starts accepting connections;
    /// returns the bound address. Prefer ``run()``, which also owns the store's writer.
    ///
    /// - Throws: `StoreError` when the recovery store cannot be opened; the engine's errors.
    @discardableResult
    public func start() async throws -> SocketAddress {
        let (log, reliable) = try await openStores()
        let tasks = core.tasks
        startedWriter.withLock { started in
            // One task owns the writers and the handlers' tasks, as `run()` does.
            if started == nil {
                started = Task {
                    await withDiscardingTaskGroup { group in
                        group.addTask { await tasks.runChildren() }
                        if let log { group.addTask { await log.run() } }
                        if let reliable { group.addTask { await reliable.run() } }
                    }
                }
            }
        }
        do {
            return try await engine.start()
        } catch {
            await core.tasks.shutdown()
            finishWriters()
            await takeStartedTask()?.value
            throw error
        }
    }

    /// Opens the recovery and reliable stores that are configured; a store opened before a
    /// later one fails is closed again.
    private func openStores() async throws -> (RecoveryLog?, ReliableLog?) {
        let log = try await core.recovery?.open()
        do {
            let reliable = try await core.reliable?.open()
            return (log, reliable)
        } catch {
            if let log {
                log.finish()
                await log.run()
            }
            throw error
        }
    }

    /// Lets the writers commit what is pending and close their stores.
    private func finishWriters() {
        core.reliable?.log?.finish()
        core.recovery?.log?.finish()
    }

    /// Runs until cancelled or a graceful shutdown, then shuts down in order: stop accepting,
    /// close every session (recoverable sockets are saved), cancel the handlers still running,
    /// commit what the recovery log holds.
    ///
    /// - Throws: `StoreError` when the recovery store cannot be opened; the engine's errors.
    public func run() async throws {
        let (log, reliable) = try await openStores()
        try await withThrowingDiscardingTaskGroup { group in
            // Middlewares, async handlers and recoveries run as children of this one.
            group.addTask { await self.core.tasks.runChildren() }
            if let log {
                // The writer ends when `finish()` says so, not on cancellation: what the
                // sessions save while they close must still be committed.
                group.addTask { await log.run() }
            }
            if let reliable { group.addTask { await reliable.run() } }
            defer { finishWriters() }
            do {
                try await engine.run()
            } catch {
                await afterEngineStopped()
                throw error
            }
            await afterEngineStopped()
        }
    }

    /// Closes every connection with `server shutting down` and stops listening, then cancels
    /// the middlewares and async handlers still running and waits for them, then commits what
    /// the recovery log holds.
    public func shutdown() async {
        await engine.shutdown()
        await afterEngineStopped()
        finishWriters()
        await takeStartedTask()?.value
    }

    private func takeStartedTask() -> Task<Void, Never>? {
        startedWriter.withLock { started in
            defer { started = nil }
            return started
        }
    }

    private func afterEngineStopped() async {
        // Sessions report their end on their event loops; let those reports run first.
        for loop in eventLoopGroup.makeIterator() {
            try? await loop.submit {}.get() // best effort: a loop that is gone has nothing queued
        }
        await core.tasks.shutdown()
    }

    /// Waits until every recoverable packet and session change made so far is committed to
    /// the recovery store; returns at once when recovery is off.
    ///
    /// - Throws: the store's error when a commit failed.
    public func flushRecoveryLog() async throws {
        try await core.recovery?.log?.flush()
    }

    /// The reliable delivery log, once the server started with
    /// ``SocketServerConfiguration/reliableDelivery`` set: its store, epoch and retention.
    public var reliableLog: ReliableLog? { core.reliable?.log }

    // MARK: Custom transports

    /// Attaches a connection that does not come from ``engine`` (an in-memory transport in
    /// tests, or another Engine.IO implementation). Call the three methods on its event loop.
    public func transportOpened(_ transport: any SocketTransport) {
        core.opened(transport)
    }

    /// Hands a message of an attached transport to the Socket.IO layer.
    public func transport(_ transport: any SocketTransport, received message: EngineMessage) {
        core.received(message, on: transport)
    }

    /// Tells the Socket.IO layer that an attached transport closed.
    public func transportClosed(_ transport: any SocketTransport, reason: EngineCloseReason) {
        core.closed(transport, reason: reason)
    }
}
