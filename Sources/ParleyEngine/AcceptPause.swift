#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import NIOCore

/// Stops accepting connections for a second when the process (or the host) is out of file
/// descriptors or memory for sockets.
///
/// The listener's `accept` then fails while connections wait in the backlog; NIO keeps its
/// read interest and would retry at once, forever, on a busy core. Turning `autoRead` off for a
/// moment takes the listener out of the event loop's poll set; the connections already open
/// are served as usual. Event-loop confined; not `Sendable`.
final class AcceptPause: ChannelInboundHandler {
    typealias InboundIn = any Channel

    static let pause = TimeAmount.seconds(1)
    private let logger: Logger
    private var paused = false

    init(logger: Logger) {
        self.logger = logger
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let error = error as? IOError, [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(error.errnoCode) else {
            context.fireErrorCaught(error)
            return
        }
        guard !paused else { return }
        paused = true
        logger.warning("cannot accept connections; pausing", metadata: ["parley.error": "\(error)", "parley.pause": "\(Self.pause)"])
        let options = context.channel.syncOptions
        try? options?.setOption(.autoRead, value: false)
        context.eventLoop.assumeIsolated().scheduleTask(in: Self.pause) {
            self.paused = false
            try? options?.setOption(.autoRead, value: true)
        }
    }
}
