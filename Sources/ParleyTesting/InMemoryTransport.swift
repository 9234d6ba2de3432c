public import NIOCore
public import NIOEmbedded
public import NIOHTTP1
public import Parley
public import ParleyEngine
public import ParleyProtocol
import Foundation
import Synchronization

/// An Engine.IO session without sockets, for testing the Socket.IO layer: the test plays the
/// client by handing text and binary messages in, and reads what the server sent.
///
/// Runs on a `NIOAsyncTestingEventLoop`, whose virtual clock the test advances to reach ack
/// and connect timeouts.
public final class InMemoryTransport: SocketTransport, @unchecked Sendable {
    public let id: String
    public let eventLoop: any EventLoop
    private let testingLoop: NIOAsyncTestingEventLoop
    public let request: EngineRequest
    public let server: SocketServer
    private let state = Mutex(State())

    struct State {
        var sent: [EngineMessage] = []
        var closeReason: EngineCloseReason?
        var congested = false
    }

    /// Opens a connection on `server`, as if a client had completed the Engine.IO handshake.
    public init(server: SocketServer, eventLoop: NIOAsyncTestingEventLoop, headers: HTTPHeaders = [:], uri: String = "/socket.io/?EIO=4&transport=websocket") async throws {
        self.id = "memory-\(UInt64.random(in: 0..<UInt64.max))"
        self.eventLoop = eventLoop
        self.testingLoop = eventLoop
        self.request = EngineRequest(method: .GET, uri: uri, headers: headers, remoteAddress: try? SocketAddress(ipAddress: "127.0.0.1", port: 1))
        self.server = server
        try await eventLoop.submit { server.transportOpened(self) }.get()
    }

    /// While congested, volatile sends are dropped (as on a WebSocket above its high-water mark).
    public var isCongested: Bool {
        get { state.withLock { $0.congested } }
        set { state.withLock { $0.congested = newValue } }
    }

    // MARK: SocketTransport

    public func send(_ message: EngineMessage) -> Bool {
        state.withLock { state in
            guard state.closeReason == nil else { return false }
            state.sent.append(message)
            return true
        }
    }

    public func sendVolatile(_ message: EngineMessage) -> Bool {
        guard !isCongested else { return false }
        return send(message)
    }

    public func close(reason: EngineCloseReason) {
        let first = state.withLock { state in
            guard state.closeReason == nil else { return false }
            state.closeReason = reason
            return true
        }
        if first { server.transportClosed(self, reason: reason) }
    }

    // MARK: Playing the client

    /// Delivers a text message from the client (a Socket.IO packet such as `40` or `42["hi"]`).
    public func receive(_ text: String) async throws {
        try await onLoop { $0.server.transport($0, received: .text(ByteBuffer(string: text))) }
    }

    /// Delivers a binary message from the client (an attachment).
    public func receive(binary: [UInt8]) async throws {
        try await onLoop { $0.server.transport($0, received: .binary(ByteBuffer(bytes: binary))) }
    }

    /// The client's connection went away.
    public func drop(_ reason: EngineCloseReason = EngineCloseReason(.transportClose)) async throws {
        try await onLoop { $0.close(reason: reason) }
    }

    /// Moves the loop's virtual clock, running what falls due (ack and connect timeouts).
    public func advanceTime(by amount: TimeAmount) async {
        await testingLoop.advanceTime(by: amount)
    }

    /// Runs `body` on the loop, as the engine would.
    public func onLoop(_ body: @escaping @Sendable (InMemoryTransport) -> Void) async throws {
        try await eventLoop.submit { body(self) }.get()
    }

    /// Takes everything the server sent since the last call; text as strings, binary as
    /// `<binary:hex>`. Work already queued on the loop runs first.
    public func takeSent() async -> [String] {
        await testingLoop.run()
        return state.withLock { state in
            defer { state.sent.removeAll() }
            return state.sent.map { message in
                switch message {
                case .text(let text): String(buffer: text)
                case .binary(let bytes): "<binary:" + bytes.readableBytesView.map { String(format: "%02x", $0) }.joined() + ">"
                }
            }
        }
    }

    /// Gives `body` the messages sent so far, untouched (to inspect buffer identity).
    public func withSentMessages<T>(_ body: ([EngineMessage]) -> T) -> T {
        let messages = state.withLock { $0.sent }
        return body(messages)
    }

    /// Why the server closed the connection, if it did.
    public var closeReason: EngineCloseReason? {
        state.withLock { $0.closeReason }
    }
}
