public import NIOCore

/// The engine's client-frame parser (``WebSocketFrameParser``) behind an interface for tests
/// and fuzzers outside the module; the server itself never uses it.
@_spi(Testing)
public struct WebSocketFrameParserProbe {
    /// One complete message or control frame, as the parser hands it to the connection.
    public enum Frame: Equatable, Sendable {
        case text(ByteBuffer)
        case binary(ByteBuffer)
        case ping(ByteBuffer)
        case pong(ByteBuffer)
        case close(ByteBuffer)
    }

    /// Why the parser gave up: the close code the connection would send and a description.
    public struct Failure: Error, Equatable, Sendable, CustomStringConvertible {
        /// 1002 for a broken rule of RFC 6455, 1009 for a message above the limit.
        public var closeCode: UInt16
        public var description: String
    }

    private var parser: WebSocketFrameParser

    /// A parser that refuses messages above `maxMessageSize` bytes.
    public init(maxMessageSize: Int) {
        parser = WebSocketFrameParser(maxMessageSize: maxMessageSize)
    }

    /// Parses the next bytes of the connection and returns the frames they complete.
    ///
    /// - Throws: ``Failure`` when the connection must be closed; `frames` then holds what was
    ///   complete before the violation.
    public mutating func parse(_ bytes: ByteBuffer, into frames: inout [Frame]) throws(Failure) {
        do {
            try parser.parse(bytes) { frame in frames.append(Self.frame(frame)) }
        } catch WebSocketFrameParser.Failure.tooLarge {
            throw Failure(closeCode: 1009, description: "message too large")
        } catch WebSocketFrameParser.Failure.protocolError(let detail) {
            throw Failure(closeCode: 1002, description: detail)
        } catch {
            throw Failure(closeCode: 1011, description: "\(error)")
        }
    }

    private static func frame(_ frame: WebSocketFrameParser.Frame) -> Frame {
        switch frame {
        case .text(let bytes): .text(bytes)
        case .binary(let bytes): .binary(bytes)
        case .ping(let bytes): .ping(bytes)
        case .pong(let bytes): .pong(bytes)
        case .close(let bytes): .close(bytes)
        }
    }
}
