public import NIOCore
public import ParleyEngine
public import ParleyProtocol

/// What the Socket.IO layer needs of an Engine.IO session. ``EngineSession`` is the real one;
/// tests drive the layer through an in-memory one (`ParleyTesting.InMemoryTransport`).
public protocol SocketTransport: AnyObject, Sendable {
    /// The engine session id (private: never sent to other clients).
    var id: String { get }
    /// The event loop the transport's callbacks run on.
    var eventLoop: any EventLoop { get }
    /// The HTTP request that opened the session.
    var request: EngineRequest { get }
    /// Queues a message; `false` when refused or closed.
    @discardableResult func send(_ message: EngineMessage) -> Bool
    /// Queues a message only if it can go out at once; otherwise drops it.
    @discardableResult func sendVolatile(_ message: EngineMessage) -> Bool
    /// Closes the session for `reason`.
    func close(reason: EngineCloseReason)
}

extension EngineSession: SocketTransport {}
