import Foundation
import NIOCore
import NIOWebSocket
import Parley
import ParleyTesting

/// The replay measured with a raw WebSocket: the clock starts when the recovering CONNECT is
/// handed to the connection and stops when the CONNECT reply is read, on the connection's
/// event loop, by a handler that only counts the replayed frames before it.
struct RawReplay {
    static let uri = "/socket.io/?EIO=4&transport=websocket"

    let server: SocketServer
    let port: Int
    let messages: Int
    let payload: String

    /// Connects once, then `repetitions` times: closes the connection, broadcasts `messages`
    /// to the room while it is gone, recovers. Returns the milliseconds of each recovery.
    func measure(repetitions: Int) async throws -> [Double] {
        var webSocket = try await RawWebSocket.connect(port: port, uri: Self.uri)
        _ = try await webSocket.nextText()  // the engine's open packet
        webSocket.send(text: "40")
        let (sid, pid) = try Self.connectReply(try await webSocket.nextText())
        guard let pid else { throw BenchFailure("the CONNECT reply has no pid: is recovery on?") }
        // The client needs one offset before it can recover.
        try server.to("r").emit("msg", payload)
        var offset = try Self.offset(of: try await webSocket.nextText())

        var samples: [Double] = []
        for _ in 0..<repetitions {
            await webSocket.close()
            let server = self.server
            guard await eventually(timeout: .seconds(5), { server.of("/").sockets.isEmpty }) else {
                throw BenchFailure("the server did not see the connection end")
            }
            for _ in 0..<messages { try server.to("r").emit("msg", payload) }
            try await server.flushRecoveryLog()

            webSocket = try await RawWebSocket.connect(port: port, uri: Self.uri)
            _ = try await webSocket.nextText()
            let counted = try await ReplayCounter.install(on: webSocket.channel)
            let start = ContinuousClock.now
            webSocket.send(text: "40{\"pid\":\"\(pid)\",\"offset\":\"\(offset)\"}")
            let result = try await counted.get()
            samples.append((result.replyReadAt - start).inMilliseconds)

            let (recoveredSID, _) = try Self.connectReply(result.reply)
            guard recoveredSID == sid, result.replayed == messages, let last = result.lastEvent else {
                throw BenchFailure("recovery went wrong: sid \(recoveredSID) (was \(sid)), \(result.replayed) of \(messages) packets replayed")
            }
            offset = try Self.offset(of: last)
        }
        await webSocket.close()
        return samples
    }

    /// The `sid` and `pid` of a CONNECT reply `40{...}`.
    static func connectReply(_ text: String) throws -> (sid: String, pid: String?) {
        guard text.hasPrefix("40"),
              let object = try JSONSerialization.jsonObject(with: Data(text.dropFirst(2).utf8)) as? [String: Any],
              let sid = object["sid"] as? String
        else { throw BenchFailure("not a CONNECT reply: \(text.prefix(200))") }
        return (sid, object["pid"] as? String)
    }

    /// The offset, the last argument of an event packet `42[...]`.
    static func offset(of text: String) throws -> String {
        guard text.hasPrefix("42"),
              let array = try JSONSerialization.jsonObject(with: Data(text.dropFirst(2).utf8)) as? [Any],
              let offset = array.last as? String
        else { throw BenchFailure("not an event with an offset: \(text.prefix(200))") }
        return offset
    }
}

/// Counts event frames (`42…`) until the CONNECT reply (`40…`), then steps out of the
/// pipeline; every other frame passes on to the `RawWebSocket`.
final class ReplayCounter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame

    struct Result: Sendable {
        var replayed: Int
        var lastEvent: String?
        var reply: String
        /// When the reply was read, on the event loop.
        var replyReadAt: ContinuousClock.Instant
    }

    private let promise: EventLoopPromise<Result>
    private var replayed = 0
    private var lastEvent: ByteBuffer?
    private var finished = false

    private init(promise: EventLoopPromise<Result>) {
        self.promise = promise
    }

    /// Puts a counter right behind the frame decoder of `channel`; the future is its result.
    static func install(on channel: any Channel) async throws -> EventLoopFuture<Result> {
        try await channel.eventLoop.submit {
            let promise = channel.eventLoop.makePromise(of: Result.self)
            let sync = channel.pipeline.syncOperations
            let decoder = try sync.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self)
            try sync.addHandler(ReplayCounter(promise: promise), position: .after(decoder))
            return promise.futureResult
        }.get()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let text = frame.unmaskedData
        guard !finished, frame.opcode == .text, text.readableBytes >= 2, text.getInteger(at: text.readerIndex, as: UInt8.self) == UInt8(ascii: "4") else {
            context.fireChannelRead(data)
            return
        }
        switch text.getInteger(at: text.readerIndex + 1, as: UInt8.self) {
        case UInt8(ascii: "2"):
            replayed += 1
            lastEvent = text
        case UInt8(ascii: "0"):
            let now = ContinuousClock.now
            finished = true
            promise.succeed(Result(replayed: replayed, lastEvent: lastEvent.map { String(buffer: $0) }, reply: String(buffer: text), replyReadAt: now))
            context.pipeline.syncOperations.removeHandler(self, promise: nil)
        default:
            context.fireChannelRead(data)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !finished {
            finished = true
            promise.fail(BenchFailure("the connection closed after \(replayed) replayed packets, before the CONNECT reply"))
        }
        context.fireChannelInactive()
    }
}
