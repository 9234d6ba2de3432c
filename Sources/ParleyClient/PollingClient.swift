import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import ParleyProtocol

/// The HTTP long-polling transport of a client: one GET or POST at a time each, over
/// async-http-client (`https` with the configured TLS settings or the system's trust roots).
struct PollingClient: Sendable {
    let http: HTTPClient
    let endpoint: ClientEndpoint
    let headers: HTTPHeaders
    let maxResponseBytes: Int

    /// `GET` for the session `sid` (`nil` opens a new one) and decode the packets.
    func get(sid: String?, timeout: Duration) async throws -> [EnginePacket] {
        var request = HTTPClientRequest(url: endpoint.pollingURL(sid: sid))
        request.method = .GET
        request.headers = headers
        let response = try await http.execute(request, timeout: .init(timeout))
        let body = try await response.body.collect(upTo: maxResponseBytes)
        guard response.status == .ok else {
            throw TransportError.httpStatus(Int(response.status.code), String(buffer: body))
        }
        return try PollingPayloadCodec.decode(body)
    }

    /// `POST` packets to the session `sid`.
    func post(_ packets: [EnginePacket], sid: String, timeout: Duration) async throws {
        var body = ByteBuffer()
        PollingPayloadCodec.encode(packets, into: &body)
        var request = HTTPClientRequest(url: endpoint.pollingURL(sid: sid))
        request.method = .POST
        request.headers = headers
        request.headers.replaceOrAdd(name: "Content-Type", value: "text/plain;charset=UTF-8")
        request.body = .bytes(body)
        let response = try await http.execute(request, timeout: .init(timeout))
        let answer = try await response.body.collect(upTo: 1_024)
        guard response.status == .ok else {
            throw TransportError.httpStatus(Int(response.status.code), String(buffer: answer))
        }
    }
}

/// A transport failed.
enum TransportError: Error, CustomStringConvertible {
    case httpStatus(Int, String)
    case webSocketRefused
    case probeRejected
    case handshakeMissing
    case closed

    var description: String {
        switch self {
        case .httpStatus(let status, let body): "HTTP \(status): \(body)"
        case .webSocketRefused: "the server refused the WebSocket upgrade"
        case .probeRejected: "the WebSocket probe was not answered with 3probe"
        case .handshakeMissing: "the server did not send an open packet"
        case .closed: "the transport closed"
        }
    }
}
