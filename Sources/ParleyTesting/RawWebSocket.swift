public import NIOCore
public import NIOPosix
public import NIOWebSocket

/// The server answered a WebSocket handshake with something other than `101`.
public struct RawWebSocketRefused: Error, CustomStringConvertible {
    /// The response head and body as received.
    public let response: String
    public var description: String { "WebSocket handshake refused: \(response)" }
}

/// A client WebSocket that writes its handshake and frames itself, so tests can also send
/// what a well-behaved client never would (unmasked frames, garbage bytes).
public final class RawWebSocket: Sendable {
    public let channel: any Channel
    private let frames: AsyncInbox<WebSocketFrame>

    private init(channel: any Channel, frames: AsyncInbox<WebSocketFrame>) {
        self.channel = channel
        self.frames = frames
    }

    /// Connects and completes the WebSocket handshake for `uri`.
    ///
    /// - Parameter receiveBufferBytes: the socket's receive buffer (`SO_RCVBUF`); the system's
    ///   autotuned default when `nil`.
    ///
    /// - Throws: ``RawWebSocketRefused`` when the answer is not `101 Switching Protocols`.
    public static func connect(
        host: String = "127.0.0.1",
        port: Int,
        uri: String,
        headers: [(String, String)] = [],
        receiveBufferBytes: Int? = nil,
        maxFrameSize: Int = 1 << 24,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> RawWebSocket {
        let loop = group.next()
        let frames = AsyncInbox<WebSocketFrame>(eventLoop: loop)
        let handshake = loop.makePromise(of: Void.self)
        var bootstrap = ClientBootstrap(group: loop)
        if let receiveBufferBytes {
            // A fixed, small receive buffer (no autotuning): what the client does not read soon
            // stops the server's writes, as with a slow reader far away.
            bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: .init(receiveBufferBytes))
        }
        let channel = try await bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        HandshakeReader(frames: frames, handshake: handshake, maxFrameSize: maxFrameSize)
                    )
                }
            }
            .connect(host: host, port: port)
            .get()
        let extra = headers.map { "\($0.0): \($0.1)\r\n" }.joined()
        let request = "GET \(uri) HTTP/1.1\r\nHost: \(host):\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n"
        try await channel.writeAndFlush(channel.allocator.buffer(string: request))
        do {
            try await handshake.futureResult.get()
        } catch {
            try? await channel.close()
            throw error
        }
        return RawWebSocket(channel: channel, frames: frames)
    }

    /// Sends a masked text frame.
    public func send(text: String) {
        send(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(string: text)))
    }

    /// Sends a masked binary frame.
    public func send(binary: [UInt8]) {
        send(WebSocketFrame(fin: true, opcode: .binary, maskKey: .random(), data: ByteBuffer(bytes: binary)))
    }

    /// Sends a frame as given (masked or not).
    public func send(_ frame: WebSocketFrame) {
        channel.writeAndFlush(frame, promise: nil)
    }

    /// Writes raw bytes below the frame encoder.
    public func sendRaw(_ bytes: [UInt8]) {
        let channel = self.channel
        channel.eventLoop.execute {
            // Gone once the connection closed; then there is nothing to write to.
            guard let context = try? channel.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self) else { return }
            context.writeAndFlush(NIOAny(ByteBuffer(bytes: bytes)), promise: nil)
        }
    }

    /// The next frame from the server; `nil` once the connection closed.
    public func nextFrame(timeout: Duration = .seconds(5)) async throws -> WebSocketFrame? {
        try await frames.next(timeout: timeout)
    }

    /// The next text frame's content; fails on any other frame or on close.
    public func nextText(timeout: Duration = .seconds(5)) async throws -> String {
        guard let frame = try await nextFrame(timeout: timeout) else { throw RawConnectionClosed() }
        guard frame.opcode == .text else { throw UnexpectedFrame(frame: frame) }
        return String(buffer: frame.unmaskedData)
    }

    /// Reads until the server's close frame and returns its code, or `nil` if the
    /// connection ended without one.
    public func closeCode(timeout: Duration = .seconds(5)) async throws -> WebSocketErrorCode? {
        while let frame = try await nextFrame(timeout: timeout) {
            if frame.opcode == .connectionClose {
                var data = frame.unmaskedData
                return data.readWebSocketErrorCode()
            }
        }
        return nil
    }

    /// Waits until the connection is closed; `false` if it stayed open past `timeout`.
    public func waitForClose(timeout: Duration = .seconds(5)) async -> Bool {
        do {
            while try await nextFrame(timeout: timeout) != nil {}
            return true
        } catch {
            return false
        }
    }

    /// Stops or resumes reading from the connection, like a client whose application stopped
    /// reading: the server's writes then pile up in the kernel's buffers.
    public func setReading(_ reading: Bool) async throws {
        try await channel.setOption(ChannelOptions.autoRead, value: reading)
        if reading { channel.read() }
    }

    /// Sends a close frame with `code` (the client's side of a clean close).
    public func sendClose(code: WebSocketErrorCode = .normalClosure) {
        var payload = ByteBuffer()
        payload.write(webSocketErrorCode: code)
        send(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: payload))
    }

    /// Closes the TCP connection without a close frame.
    public func close() async {
        try? await channel.close()
    }
}

/// A frame of another kind than the test expected.
public struct UnexpectedFrame: Error, CustomStringConvertible {
    public let frame: WebSocketFrame
    public var description: String { "unexpected \(frame.opcode) frame: \(String(buffer: frame.unmaskedData))" }
}

/// Reads the handshake response, then swaps itself for the frame codec.
private final class HandshakeReader: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let frames: AsyncInbox<WebSocketFrame>
    private let handshake: EventLoopPromise<Void>
    private let maxFrameSize: Int
    private var received = ByteBuffer()

    init(frames: AsyncInbox<WebSocketFrame>, handshake: EventLoopPromise<Void>, maxFrameSize: Int) {
        self.frames = frames
        self.handshake = handshake
        self.maxFrameSize = maxFrameSize
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        received.writeBuffer(&chunk)
        let view = received.readableBytesView
        guard let end = view.firstRange(of: Array("\r\n\r\n".utf8)) else { return }
        let headLength = end.upperBound - view.startIndex
        let head = received.readString(length: headLength) ?? ""
        guard head.hasPrefix("HTTP/1.1 101") else {
            let rest = received.readString(length: received.readableBytes) ?? ""
            handshake.fail(RawWebSocketRefused(response: head + rest))
            return
        }
        do {
            let sync = context.pipeline.syncOperations
            try sync.addHandlers(
                [
                    ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: maxFrameSize)),
                    WebSocketFrameEncoder(),
                    FrameCollector(frames: frames),
                ],
                position: .after(self)
            )
            handshake.succeed()
            let leftover = received
            received = ByteBuffer()
            // Frames that came in the same read as the handshake go on before this handler leaves.
            if leftover.readableBytes > 0 { context.fireChannelRead(NIOAny(leftover)) }
            sync.removeHandler(self, promise: nil)
        } catch {
            handshake.fail(error)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        handshake.fail(RawWebSocketRefused(response: String(buffer: received)))
        frames.finish()
        context.fireChannelInactive()
    }
}

private final class FrameCollector: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame

    private let frames: AsyncInbox<WebSocketFrame>

    init(frames: AsyncInbox<WebSocketFrame>) {
        self.frames = frames
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        frames.push(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        frames.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
