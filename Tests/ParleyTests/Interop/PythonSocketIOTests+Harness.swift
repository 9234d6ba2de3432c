import Foundation
import NIOCore
import Parley
import ParleyTesting
import Testing

/// The harness of ``PythonSocketIOTests``: an in-process server, the python client as a
/// ``PeerProcess``, and what the client printed.
extension PythonSocketIOTests {
    /// Starts a server on 127.0.0.1 port 0, lets `configure` add handlers, runs `body` with
    /// the server's URL, then shuts the server down (also when `body` throws).
    func withServer(
        _ configure: (SocketServer) -> Void,
        run body: (SocketServer, String) async throws -> Void
    ) async throws {
        var configuration = SocketServerConfiguration()
        configuration.engine.address = .hostname("127.0.0.1", port: 0)
        configuration.engine.shutdownGracePeriod = .seconds(1)
        let server = SocketServer(configuration: configuration)
        configure(server)
        let address = try await server.start()
        do {
            let port = try #require(address.port)
            try await body(server, "http://127.0.0.1:\(port)")
        } catch {
            await server.shutdown()
            throw error
        }
        await server.shutdown()
    }

    /// Runs one scenario of the python script to its end (killed after 30 s).
    func runScenario(_ scenario: String, url: String, transport: Transport) async throws -> Outcome {
        try await PythonClient(scenario: scenario, url: url, transport: transport).finish(timeout: .seconds(30))
    }

    /// Whether the script exited 0 after printing `done` (recorded as an issue with its output
    /// when not); then expects every client to have ended on the transport it should (the
    /// default mode must have upgraded to WebSocket). A test stops at a failed client: its
    /// other expectations would only repeat the same failure.
    func expectSucceeded(_ outcome: Outcome, transport: Transport, sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        guard outcome.exitCode == 0, outcome.observations.last?["event"] == "done" else {
            Issue.record("python client failed: \(outcome.summary)", sourceLocation: sourceLocation)
            return false
        }
        #expect(!outcome.transports.isEmpty, "no transport observed", sourceLocation: sourceLocation)
        #expect(outcome.transports.allSatisfy { $0 == transport.final }, "transports \(outcome.transports), expected \(transport.final)", sourceLocation: sourceLocation)
        return true
    }

    /// Polls `condition` every 10 ms for at most `timeout`.
    func waitUntil(timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(10))  // only cancellation can throw; the loop is bounded anyway
        }
        return true
    }

    /// What a finished python client printed and how it ended.
    struct Outcome: Sendable {
        var exitCode: Int32
        var killedBySignal: Bool
        var observations: [JSON]
        var stdout: String
        var stderr: String

        func all(_ event: String) -> [JSON] {
            observations.filter { $0["event"] == .string(event) }
        }

        func first(_ event: String, where predicate: (JSON) -> Bool = { _ in true }) -> JSON? {
            all(event).first(where: predicate)
        }

        /// The transports the script reported its clients ended on.
        var transports: [String] {
            all("transport").compactMap { $0["value"]?.string }
        }

        var summary: String {
            let failure = first("failed")?["message"]?.string ?? "no failure reported"
            return "exit \(exitCode)\(killedBySignal ? " (signal)" : ""): \(failure)\n--- stdout\n\(PeerProcess.clip(stdout))\n--- stderr (python-socketio's log)\n\(PeerProcess.clip(stderr))"
        }
    }

    /// A JSON value as the python script printed it.
    typealias JSON = JSONValue

    /// The python scenario script running as a ``PeerProcess``.
    struct PythonClient {
        private let peer: PeerProcess

        init(scenario: String, url: String, transport: Transport) throws {
            peer = try PeerProcess.python(
                script: Self.scriptURL,
                arguments: ["--url", url, "--transports", transport.rawValue, "--scenario", scenario]
            )
        }

        /// `Tests/Interop/socketio_client_scenario.py`, found from this file's path.
        static var scriptURL: URL {
            URL(fileURLWithPath: #filePath)
                .deletingLastPathComponent()  // Interop
                .deletingLastPathComponent()  // ParleyTests
                .deletingLastPathComponent()  // Tests
                .appendingPathComponent("Interop/socketio_client_scenario.py")
        }

        /// The first observation named `event`, waiting for it at most `timeout`.
        func waitFor(_ event: String, timeout: Duration) async -> JSON? {
            await peer.waitForJSONLine(timeout: timeout) { $0["event"] == .string(event) }
        }

        /// Sends SIGKILL to this child (by its pid).
        func kill() {
            peer.kill()
        }

        /// Waits for the child to exit (killing it after `timeout`) and collects its output.
        func finish(timeout: Duration) async -> Outcome {
            let end = await peer.finish(within: timeout)
            if end.killed { Issue.record("the python client did not exit within \(timeout); killed it") }
            let text = peer.stdout
            return Outcome(
                exitCode: end.status ?? -1,
                killedBySignal: end.bySignal,
                observations: PeerProcess.jsonLines(in: text),
                stdout: text,
                stderr: peer.stderr
            )
        }
    }
}
