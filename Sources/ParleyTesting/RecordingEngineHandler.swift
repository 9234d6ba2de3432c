public import NIOCore
public import ParleyEngine
public import ParleyProtocol

/// An ``EngineHandler`` that records every session event for tests to await, and can echo.
public final class RecordingEngineHandler: EngineHandler {
    /// One thing that happened to a session.
    public enum Event: Sendable {
        case opened(EngineSession)
        case received(EngineSession, EngineMessage)
        case closed(EngineSession, EngineCloseReason)
    }

    /// Every event, in the order the handler saw them.
    public let events: AsyncInbox<Event>
    private let echo: Bool

    /// - Parameter echo: send every received message straight back to its session.
    public init(echo: Bool = false, eventLoop: any EventLoop) {
        self.events = AsyncInbox(eventLoop: eventLoop)
        self.echo = echo
    }

    public func sessionOpened(_ session: EngineSession) {
        record(.opened(session))
    }

    public func session(_ session: EngineSession, received message: EngineMessage) {
        if echo { session.send(message) }
        record(.received(session, message))
    }

    public func session(_ session: EngineSession, closedWith reason: EngineCloseReason) {
        record(.closed(session, reason))
    }

    private func record(_ event: Event) {
        let events = self.events
        if events.eventLoop.inEventLoop {
            events.push(event)
        } else {
            events.eventLoop.execute { events.push(event) }
        }
    }

    /// The next opened session.
    public func nextOpened(timeout: Duration = .seconds(5)) async throws -> EngineSession {
        try await next(timeout: timeout) { event in
            if case .opened(let session) = event { return session }
            return nil
        }
    }

    /// The next message received by the session with `sid` (any session when `nil`).
    public func nextMessage(sid: String? = nil, timeout: Duration = .seconds(5)) async throws -> EngineMessage {
        try await next(timeout: timeout) { event in
            if case .received(let session, let message) = event, sid == nil || session.id == sid { return message }
            return nil
        }
    }

    /// The reason the session with `sid` closed (any session when `nil`).
    public func nextClose(sid: String? = nil, timeout: Duration = .seconds(5)) async throws -> EngineCloseReason {
        try await next(timeout: timeout) { event in
            if case .closed(let session, let reason) = event, sid == nil || session.id == sid { return reason }
            return nil
        }
    }

    /// Skips events until `match` returns a value.
    public func next<T>(timeout: Duration, _ match: (Event) -> T?) async throws -> T {
        while true {
            guard let event = try await events.next(timeout: timeout) else { throw RawConnectionClosed() }
            if let value = match(event) { return value }
        }
    }
}
