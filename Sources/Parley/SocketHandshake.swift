public import Foundation
public import NIOCore
public import NIOHTTP1
public import ParleyEngine
import NIOConcurrencyHelpers

/// What a namespace knows about a client asking to connect: its auth object and the HTTP
/// request that opened its connection.
public struct SocketHandshake: Sendable {
    /// The namespace asked for.
    public let namespace: String
    /// The CONNECT payload (the JS client's `auth` option) as JSON, if any.
    public let authJSON: ByteBuffer?
    /// The request headers of the connection.
    public var headers: HTTPHeaders { request.headers }
    /// The query parameters of the connection.
    public var query: [String: String] { request.query }
    /// The peer address, when known.
    public var address: SocketAddress? { request.remoteAddress }
    /// When the connection was opened.
    public var time: Date { request.time }
    /// The HTTP request that opened the Engine.IO session.
    public let request: EngineRequest
    /// The user a middleware named with ``identify(user:)``.
    let identity = HandshakeIdentity()

    /// Names the user the socket will belong to (reliable delivery, `Namespace.user(_:)`).
    /// Call it from a middleware once the client is authenticated; the socket is created with
    /// this user. A socket can also be identified later with `Socket.identify(user:)`.
    public func identify(user: String) {
        identity.user.withLockedValue { $0 = user }
    }

    /// The user named by ``identify(user:)``, if any.
    public var user: String? { identity.user.withLockedValue { $0 } }

    /// Decodes the auth object, or `nil` when the client sent none.
    public func auth<T: Decodable>(as type: T.Type) throws -> T? {
        guard let authJSON else { return nil }
        return try JSONDecoder().decode(T.self, from: Data(authJSON.readableBytesView))
    }
}

/// What middlewares learn about the client, shared by the copies of one handshake.
final class HandshakeIdentity: Sendable {
    let user = NIOLockedValueBox<String?>(nil)
}
