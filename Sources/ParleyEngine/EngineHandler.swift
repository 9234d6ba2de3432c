public import ParleyProtocol
/// Receives the life of every session of an ``EngineServer``.
///
/// All three methods run on the session's event loop, in order, one at a time per session.
/// They must not block: hand long work to a task and ``EngineSession/send(_:)`` the answer.
///
/// ```swift
/// struct Echo: EngineHandler {
///     func sessionOpened(_ session: EngineSession) {}
///     func session(_ session: EngineSession, received message: EngineMessage) { session.send(message) }
///     func session(_ session: EngineSession, closedWith reason: EngineCloseReason) {}
/// }
/// ```
public protocol EngineHandler: Sendable {
    /// A client completed the handshake; the session can send at once.
    func sessionOpened(_ session: EngineSession)
    /// A message arrived from the client.
    func session(_ session: EngineSession, received message: EngineMessage)
    /// The session ended; nothing more will be delivered for it.
    func session(_ session: EngineSession, closedWith reason: EngineCloseReason)
}
