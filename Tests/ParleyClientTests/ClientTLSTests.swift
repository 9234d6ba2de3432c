import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import Parley
import ParleyClient
import ParleyTesting
import Testing

/// The Swift client over `https` / `wss`: a Parley server behind a TLS-terminating proxy on
/// loopback, with a self-signed certificate made for the test.
@Suite("Client over TLS (live)")
struct ClientTLSTests {
    static let tlsTransports: [SocketClientConfiguration.Transports] = [.pollingOnly, .webSocketOnly]

    /// Runs `body` with a proxy presenting a fresh self-signed certificate in front of an echo
    /// server (see ``HostileNetworkTests/startEchoServer(port:tag:)``).
    static func withTLSEchoServer(_ body: (TLSTerminatingProxy, TLSTestCertificate) async throws -> Void) async throws {
        let certificate = try TLSTestCertificate.make()
        try await HostileNetworkTests.withEchoServer(tag: "tls") { port in
            let proxy = try await TLSTerminatingProxy.start(upstreamPort: port, certificate: certificate)
            do {
                try await body(proxy, certificate)
            } catch {
                await proxy.stop()
                throw error
            }
            await proxy.stop()
        }
    }

    @Test(arguments: tlsTransports)
    func theClientRefusesACertificateItDoesNotTrust(_ transports: SocketClientConfiguration.Transports) async throws {
        try await Self.withTLSEchoServer { proxy, _ in
            var configuration = SocketClientConfiguration()
            configuration.transports = transports
            configuration.reconnection = false
            configuration.connectTimeout = .seconds(5)
            let manager = try SocketManager(url: "https://localhost:\(proxy.port)", configuration: configuration, logger: HostileNetworkTests.logger)
            let socket = manager.socket()
            let connects = NIOLockedValueBox(0)
            socket.onConnect { connects.withLockedValue { $0 += 1 } }
            let returned = AsyncInbox<Void>(eventLoop: MultiThreadedEventLoopGroup.singleton.next())
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await manager.run()
                    returned.eventLoop.execute { returned.push(()) }
                }
                // The client spoke TLS to the proxy and gave up in the handshake: the
                // certificate is self-signed and trusted by nobody.
                let handshake = try #require(try await proxy.handshakes.next(timeout: .seconds(5)))
                guard case .failed(let error) = handshake else {
                    Issue.record("the client accepted an untrusted certificate")
                    return
                }
                #expect(error.uppercased().contains("CERTIFICATE") || error.uppercased().contains("UNKNOWN_CA"), "\(error)")
                // Without reconnection the manager stops after that one failure.
                _ = try #require(try await returned.next(timeout: .seconds(10)))
                #expect(connects.withLockedValue { $0 } == 0)
                try await group.waitForAll()
            }
        }
    }
}
