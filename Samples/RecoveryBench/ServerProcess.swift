import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The BenchServer as a child process, optionally pinned to one core with `taskset`, whose
/// first stdout line (`BenchServer listening on http://host:port/`) says it is ready. Its
/// stderr goes to ours.
final class ServerProcess: Sendable {
    private let process: Process
    private let output = Mutex("")

    private init(process: Process) {
        self.process = process
    }

    /// Starts `executable` with `arguments` and waits until it listens.
    ///
    /// - Throws: ``BenchFailure`` when it exits or stays silent for 30 s; the launch's error.
    static func start(executable: String, arguments: [String], core: Int?) async throws -> (server: ServerProcess, port: Int) {
        let process = Process()
        if let core {
            // taskset execs the server: the child's pid is the server's.
            process.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
            process.arguments = ["-c", String(core), executable] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.standardError
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let server = ServerProcess(process: process)
        let reader = pipe.fileHandleForReading
        Thread.detachNewThread {
            while true {
                let data = reader.availableData
                if data.isEmpty { break }
                server.output.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let text = server.output.withLock { $0 }
            if let line = text.split(separator: "\n").first(where: { $0.contains("listening on") }),
               let port = line.split(separator: ":").last.flatMap({ Int($0.prefix { $0.isNumber }) }) {
                return (server, port)
            }
            guard process.isRunning else { throw BenchFailure("the server exited (status \(process.terminationStatus)) before listening") }
            try await Task.sleep(for: .milliseconds(2))
        }
        server.kill()
        throw BenchFailure("the server did not listen within 30 s")
    }

    var pid: Int32 { process.processIdentifier }

    /// Sends SIGKILL and waits until the process is gone.
    func kill() {
        guard process.isRunning else { return }
        _ = Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit, then SIGKILL.
    func terminate(timeout: Duration = .seconds(10)) async {
        guard process.isRunning else { return }
        _ = Glibc.kill(process.processIdentifier, SIGTERM)
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))  // a cancelled wait only shortens it
        }
        kill()
    }
}
