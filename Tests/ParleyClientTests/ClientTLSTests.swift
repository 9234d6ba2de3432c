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
                    await manager.disconnect()
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

    @Test(arguments: ClientServerTests.strategies)
    func theClientConnectsOverTLSWhenItTrustsTheCertificate(_ transports: SocketClientConfiguration.Transports) async throws {
        try await Self.withTLSEchoServer { proxy, certificate in
            var configuration = SocketClientConfiguration()
            configuration.transports = transports
            configuration.tlsConfiguration = certificate.trustingClientConfiguration
            let manager = try SocketManager(url: "https://localhost:\(proxy.port)", configuration: configuration, logger: HostileNetworkTests.logger)
            let socket = manager.socket()
            try await HostileNetworkTests.running([manager]) {
                let reply = try await socket.emitWithAck("echo", "over tls", timeout: .seconds(5))
                #expect(try reply.decode(String.self, at: 0) == "tls:over tls")
                #expect(try await proxy.handshakes.next(timeout: .seconds(1)) == .completed)
                if transports == .pollingThenUpgrade {
                    // The upgrade probe is a second TLS connection (wss), and it works too.
                    for _ in 0..<300 where manager.transport != .websocket { try await Task.sleep(for: .milliseconds(10)) }
                    #expect(manager.transport == .websocket)
                    let again = try await socket.emitWithAck("echo", "over wss", timeout: .seconds(5))
                    #expect(try again.decode(String.self, at: 0) == "tls:over wss")
                }
            }
        }
    }

    /// `wss://127.0.0.1`: an IP address is not sent as the TLS server name (SNI), which
    /// carries host names only.
    @Test func theClientConnectsOverWSSToAnIPAddress() async throws {
        try await Self.withTLSEchoServer { proxy, certificate in
            var configuration = SocketClientConfiguration()
            configuration.transports = .webSocketOnly
            configuration.connectTimeout = .seconds(3)
            configuration.tlsConfiguration = certificate.trustingClientConfiguration
            let manager = try SocketManager(url: "wss://127.0.0.1:\(proxy.port)", configuration: configuration, logger: HostileNetworkTests.logger)
            let socket = manager.socket()
            try await HostileNetworkTests.running([manager]) {
                let reply = try await socket.emitWithAck("echo", "by address", timeout: .seconds(5))
                #expect(try reply.decode(String.self, at: 0) == "tls:by address")
            }
        }
    }
}
