public import Logging
public import NIOCore

/// One server core whose connections a test builds itself, for example on `EmbeddedChannel`s:
/// each gets exactly the pipeline ``EngineServer`` gives an accepted connection.
@_spi(Testing)
public final class EngineConnectionHarness: Sendable {
    private let core: EngineServerCore

    /// A core with this configuration and handler; nothing listens.
    public init(configuration: EngineConfiguration, handler: some EngineHandler, logger: Logger) {
        core = EngineServerCore(configuration: configuration, handler: handler, logger: logger)
    }

    /// Installs the server's connection pipeline on `channel`.
    public func configure(_ channel: any Channel) throws {
        try EngineServer.configure(channel, core: core)
    }

    /// The number of live sessions.
    public var sessionCount: Int { core.sessionCount }

    /// Ends every live session at once, without waiting for any client.
    public func finishAllSessions() {
        for session in core.allSessions {
            session.onLoop { $0.finish(EngineCloseReason(.serverShuttingDown)) }
        }
    }
}
