public import NIOCore
public import NIOPosix
import Foundation
import Synchronization

/// A plain TCP connection for sending bytes no HTTP client would (garbage, half requests) and
/// reading whatever comes back.
public final class RawTCPConnection: Sendable {
    public let channel: any Channel
    private let chunks: AsyncInbox<ByteBuffer>
    private let pending = Mutex("")

    private init(channel: any Channel, chunks: AsyncInbox<ByteBuffer>) {
        self.channel = channel
        self.chunks = chunks
    }

    /// Connects to `host:port`.
    public static func connect(host: String = "127.0.0.1", port: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> RawTCPConnection {
        let loop = group.next()
        let inbox = AsyncInbox<ByteBuffer>(eventLoop: loop)
        let channel = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteCollector(inbox: inbox))
                }
            }
            .connect(host: host, port: port)
            .get()
        return RawTCPConnection(channel: channel, chunks: inbox)
    }

    /// Writes `bytes` as they are.
    public func send(_ bytes: [UInt8]) {
        channel.writeAndFlush(ByteBuffer(bytes: bytes), promise: nil)
    }

    /// Writes the UTF-8 of `text`.
    public func send(_ text: String) {
        send(Array(text.utf8))
    }

    /// Bytes received since the last call, up to and including the first occurrence of
    /// `marker` (as text); fails after `timeout` without it.
    public func receive(until marker: String, timeout: Duration = .seconds(5)) async throws -> String {
        var received = pending.withLock { pending in
            defer { pending = "" }
            return pending
        }
        while !received.contains(marker) {
            guard let chunk = try await chunks.next(timeout: timeout) else { throw RawConnectionClosed() }
            received += String(decoding: chunk.readableBytesView, as: UTF8.self)
        }
        let end = received.range(of: marker)!.upperBound
        pending.withLock { $0 = String(received[end...]) }
        return String(received[..<end])
    }

    /// Everything received until the server closed the connection, or `nil` if it was still
    /// open after `timeout`.
    public func readUntilClose(timeout: Duration = .seconds(5)) async -> String? {
        var received = ""
        do {
            while let chunk = try await chunks.next(timeout: timeout) { received += String(buffer: chunk) }
            return received
        } catch {
            return nil
        }
    }

    /// Closes the connection from this side.
    public func close() async {
        try? await channel.close()
    }
}

private final class ByteCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let inbox: AsyncInbox<ByteBuffer>

    init(inbox: AsyncInbox<ByteBuffer>) {
        self.inbox = inbox
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inbox.push(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        inbox.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
