public import NIOHTTP1

/// A request the endpoint refuses, with the reference server's JSON error codes.
///
/// The body is `{"code":N,"message":"..."}`. See `Protocol/engine.md` § Errors.
public struct EngineRequestError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The numeric code in the JSON body.
    public let code: Int
    /// The message in the JSON body.
    public let message: String
    /// The HTTP status: 403 for `Forbidden`, 429 and 503 for the limits, 400 for the others.
    public let status: HTTPResponseStatus

    private init(code: Int, message: String, status: HTTPResponseStatus = .badRequest) {
        self.code = code
        self.message = message
        self.status = status
    }

    /// `transport` is missing or names a transport the server does not offer.
    public static let transportUnknown = EngineRequestError(code: 0, message: "Transport unknown")
    /// `sid` names no live session.
    public static let sessionIDUnknown = EngineRequestError(code: 1, message: "Session ID unknown")
    /// A request without `sid` that is not a GET.
    public static let badHandshakeMethod = EngineRequestError(code: 2, message: "Bad handshake method")
    /// Anything else the transport rules forbid.
    public static let badRequest = EngineRequestError(code: 3, message: "Bad request")
    /// ``EngineConfiguration/allowRequest`` refused the request.
    public static let forbidden = EngineRequestError(code: 4, message: "Forbidden", status: .forbidden)
    /// `EIO` is missing or not `4`.
    public static let unsupportedProtocolVersion = EngineRequestError(code: 5, message: "Unsupported protocol version")

    /// The client's address has ``EngineConfiguration/Limits/maxSessionsPerAddress`` sessions
    /// open already (HTTP 429).
    public static let tooManySessions = EngineRequestError(code: 6, message: "Too many sessions from this address", status: .tooManyRequests)
    /// The server takes no more handshakes this second (HTTP 503); the client retries later.
    public static let serverBusy = EngineRequestError(code: 7, message: "Server busy", status: .serviceUnavailable)

    /// The JSON body.
    public var body: String { "{\"code\":\(code),\"message\":\"\(message)\"}" }

    public var description: String { "\(code) \(message)" }
}
