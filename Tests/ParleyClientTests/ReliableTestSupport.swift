import Foundation
import Logging
import NIOCore
import Parley
import ParleyClient
import ParleyProtocol
import ParleyStore

/// What the reliable client tests share: a server whose handlers play the reliable server's
/// part, a quickly reconnecting reliable client, and what the server saw.
extension ClientReliableTests {
    /// A server on a free loopback port whose sockets `setUp` equips.
    static func server(
        recovery: Bool = false,
        _ setUp: @escaping @Sendable (Socket) -> Void
    ) async throws -> (SocketServer, Int) {
        var configuration = SocketServerConfiguration()
        configuration.engine.address = .hostname("127.0.0.1", port: 0)
        if recovery { configuration.connectionStateRecovery = ConnectionStateRecovery() }
        let server = SocketServer(configuration: configuration)
        server.onConnection(setUp)
        return (server, try await server.start().port!)
    }

    /// A manager of `port` that reconnects quickly, with reliable delivery on `store`.
    static func manager(
        port: Int,
        store: any ClientReliableStore,
        transports: SocketClientConfiguration.Transports = .webSocketOnly
    ) throws -> SocketManager {
        try manager(port: port, reliability: ClientReliability(store: store), transports: transports)
    }

    /// A manager of `port` that reconnects quickly, with `reliability`.
    static func manager(
        port: Int,
        reliability: ClientReliability,
        transports: SocketClientConfiguration.Transports = .webSocketOnly
    ) throws -> SocketManager {
        var configuration = SocketClientConfiguration()
        configuration.transports = transports
        configuration.backoff = ReconnectBackoff(initial: .milliseconds(50), maximum: .milliseconds(200))
        configuration.reliable = reliability
        return try SocketManager(url: "http://127.0.0.1:\(port)", configuration: configuration, logger: ClientRecoveryTests.logger)
    }

    /// The value of `body`, or a failure after `limit`.
    static func within<T: Sendable>(_ limit: Duration = .seconds(10), _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard let value = try await group.next() ?? nil else { throw TimedOut(limit: limit) }
            return value
        }
    }

    struct TimedOut: Error, CustomStringConvertible {
        let limit: Duration
        var description: String { "nothing within \(limit)" }
    }
}

/// The auth object a test server saw in a CONNECT.
struct ConnectAuth: Codable, Equatable, Sendable {
    var token: String?
    var deviceId: String?
}

/// A `send` event as a test server saw it: `[number, (data), marker]`.
struct ServerSend: Sendable {
    private struct KeyMarker: Decodable {
        struct Fields: Decodable { var key: String }
        var parley: Fields
    }

    var socket: String?
    var number: Int
    var key: String
    var data: Data?
    /// The arguments as they arrived.
    var json: String

    init(_ event: SocketEvent, socket: String? = nil) throws {
        let count = event.arguments.count
        self.socket = socket
        number = try event.argument(0, as: Int.self)
        key = try event.argument(count - 1, as: KeyMarker.self).parley.key
        data = count == 3 ? try? event.argument(1, as: Data.self) : nil
        json = event.arguments.jsonText
    }
}
