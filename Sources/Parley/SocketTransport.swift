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
    /// Queues a message encoded once for many recipients; `false` when refused or closed.
    @discardableResult func send(_ message: PreparedMessage) -> Bool
    /// Queues a prepared message only if it can go out at once; otherwise drops it.
    @discardableResult func sendVolatile(_ message: PreparedMessage) -> Bool
    /// Closes the session for `reason`.
    func close(reason: EngineCloseReason)
}

extension SocketTransport {
    /// Sends the prepared message's ``PreparedMessage/message`` like any other.
    @discardableResult public func send(_ message: PreparedMessage) -> Bool {
        send(message.message)
    }

    /// Sends the prepared message's ``PreparedMessage/message`` like any other volatile one.
    @discardableResult public func sendVolatile(_ message: PreparedMessage) -> Bool {
        sendVolatile(message.message)
    }
}

extension EngineSession: SocketTransport {}
