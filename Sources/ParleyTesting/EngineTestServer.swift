import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
public import ParleyEngine
public import ParleyProtocol

/// An ``EngineServer`` on a free loopback port with a ``RecordingEngineHandler``, for tests.
public struct EngineTestServer: Sendable {
    public let server: EngineServer
    public let port: Int
    public let recorder: RecordingEngineHandler
    public let path: String

    /// Starts a server on `127.0.0.1`, port 0.
    ///
    /// - Parameters:
    ///   - echo: whether the handler echoes every message back.
    ///   - configure: adjusts the configuration (the address is always loopback, port 0).
    public static func start(
        echo: Bool = true,
        configure: (inout EngineConfiguration) -> Void = { _ in }
    ) async throws -> EngineTestServer {
        var configuration = EngineConfiguration()
        configure(&configuration)
        configuration.address = .hostname("127.0.0.1", port: 0)
        let recorder = RecordingEngineHandler(echo: echo, eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        var logger = Logger(label: "parley.test")
        logger.logLevel = ProcessInfo.processInfo.environment["PARLEY_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        let server = EngineServer(configuration: configuration, handler: recorder, logger: logger)
        let address = try await server.start()
        return EngineTestServer(server: server, port: address.port!, recorder: recorder, path: configuration.path)
    }

    /// Shuts the server down.
    public func stop() async {
        await server.shutdown()
    }

    /// The URI of a polling request, with `sid` when given.
    public func pollingURI(sid: String? = nil) -> String {
        "\(path)?EIO=4&transport=polling" + (sid.map { "&sid=\($0)" } ?? "")
    }

    /// The URI of a WebSocket request, with `sid` when given.
    public func webSocketURI(sid: String? = nil) -> String {
        "\(path)?EIO=4&transport=websocket" + (sid.map { "&sid=\($0)" } ?? "")
    }

    /// A new keep-alive connection to the server.
    public func connection() async throws -> RawHTTPConnection {
        try await RawHTTPConnection.connect(port: port)
    }

    /// Opens a polling session on `connection` and returns its handshake.
    public func pollingHandshake(on connection: RawHTTPConnection) async throws -> EngineHandshake {
        let response = try await connection.request("GET", pollingURI())
        guard response.status == .ok, case .open(let handshake) = try EnginePacketCodec.decode(text: response.body) else {
            throw HandshakeFailed(response: response.text)
        }
        return handshake
    }

    /// Opens a direct WebSocket session and returns the socket and its handshake.
    public func webSocketHandshake(receiveBufferBytes: Int? = nil) async throws -> (RawWebSocket, EngineHandshake) {
        let socket = try await RawWebSocket.connect(port: port, uri: webSocketURI(), receiveBufferBytes: receiveBufferBytes)
        let text = try await socket.nextText()
        guard case .open(let handshake) = try EnginePacketCodec.decode(text: ByteBuffer(string: text)) else {
            throw HandshakeFailed(response: text)
        }
        return (socket, handshake)
    }
}

/// The server did not answer a handshake with an open packet.
public struct HandshakeFailed: Error, CustomStringConvertible {
    public let response: String
    public var description: String { "no open packet in: \(response)" }
}
