public import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An independent peer (a python script) running as a child process, with its output collected
/// for the test that started it.
///
/// stdout and stderr are read on two threads (so a full pipe never blocks the peer) into locked
/// buffers; every wait is bounded. The peer reports what it saw as JSON lines on stdout
/// (``jsonLines``); stderr is its log, for failure messages.
///
/// ```swift
/// let peer = try PeerProcess.python(script: scriptURL, arguments: ["--scenario", "rooms"])
/// let ready = await peer.waitForJSONLine(timeout: .seconds(15)) { $0["event"] == "ready" }
/// let termination = await peer.finish(within: .seconds(30))
/// ```
public final class PeerProcess: Sendable {
    /// Thrown when the peer cannot be started; the description says what to fix.
    public struct LaunchError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Where the peer's stdin comes from.
    public enum StandardInput: Sendable {
        /// `/dev/null`: the peer reads end of file at once.
        case null
        /// A pipe this object holds open until the peer is stopped, so that a peer which exits
        /// on end of file also goes away when the test process dies.
        case pipeHeldOpen
    }

    /// How the peer ended.
    public struct Termination: Sendable {
        /// The exit status, or the signal number when ``bySignal``; `nil` while still running.
        public var status: Int32?
        /// Whether a signal ended the peer.
        public var bySignal: Bool
        /// Whether the peer had to be sent SIGKILL because it outlived its deadline.
        public var killed: Bool

        /// Whether the peer exited by itself with status 0.
        public var isCleanExit: Bool { status == 0 && !bySignal && !killed }
    }

    private let process: Process
    private let stdin: FileHandle?
    private let stdoutBuffer = OutputBuffer()
    private let stderrBuffer = OutputBuffer()

    private init(process: Process, stdin: FileHandle?) {
        self.process = process
        self.stdin = stdin
    }

    /// Starts `script` with the python interpreter named by the `PARLEY_PYTHON` environment variable.
    ///
    /// The interpreter runs unbuffered (`-u`, `PYTHONUNBUFFERED=1`) and writes no bytecode, and
    /// the peer inherits the rest of this process's environment.
    ///
    /// - Parameters:
    ///   - script: The script file.
    ///   - arguments: The script's arguments.
    ///   - standardInput: Where the peer's stdin comes from.
    /// - Throws: ``LaunchError`` when `PARLEY_PYTHON` is unset or not an executable file, or
    ///   `script` is missing; the error of `Process.run()` when the launch fails.
    public static func python(script: URL, arguments: [String] = [], standardInput: StandardInput = .null) throws -> PeerProcess {
        let environment = ProcessInfo.processInfo.environment
        guard let python = environment["PARLEY_PYTHON"].flatMap({ $0.isEmpty ? nil : $0 }) else {
            throw LaunchError(description: "PARLEY_PYTHON is not set: run the tests with `bash Tests/run.sh`, or set PARLEY_PYTHON to the python of a venv with Tests/Interop/requirements.txt installed (e.g. PARLEY_PYTHON=.build/venv/bin/python swift test)")
        }
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw LaunchError(description: "PARLEY_PYTHON=\(python) is not an executable file (run `bash Tests/run.sh` to create .build/venv)")
        }
        guard FileManager.default.fileExists(atPath: script.path) else {
            throw LaunchError(description: "missing \(script.path)")
        }

        var childEnvironment = environment
        childEnvironment["PYTHONDONTWRITEBYTECODE"] = "1"
        childEnvironment["PYTHONUNBUFFERED"] = "1"
        return try launch(URL(fileURLWithPath: python), ["-u", script.path] + arguments, environment: childEnvironment, standardInput: standardInput)
    }

    /// Starts the sample executable `name` (e.g. `BenchServer`) from the folder named by the
    /// `PARLEY_BIN` environment variable (`swift build --show-bin-path`).
    ///
    /// - Throws: ``LaunchError`` when `PARLEY_BIN` is unset or the executable is missing; the
    ///   error of `Process.run()` when the launch fails.
    public static func sample(_ name: String, arguments: [String] = []) throws -> PeerProcess {
        guard let bin = ProcessInfo.processInfo.environment["PARLEY_BIN"].flatMap({ $0.isEmpty ? nil : $0 }) else {
            throw LaunchError(description: "PARLEY_BIN is not set: run the tests with `bash Tests/run.sh`, or set PARLEY_BIN=$(swift build --show-bin-path)")
        }
        let executable = URL(fileURLWithPath: bin).appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw LaunchError(description: "\(executable.path) is not an executable file (run `swift build`)")
        }
        return try launch(executable, arguments, environment: ProcessInfo.processInfo.environment, standardInput: .pipeHeldOpen)
    }

    private static func launch(_ executable: URL, _ arguments: [String], environment: [String: String], standardInput: StandardInput) throws -> PeerProcess {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        var stdin: FileHandle?
        switch standardInput {
        case .null:
            process.standardInput = FileHandle.nullDevice
        case .pipeHeldOpen:
            let input = Pipe()
            process.standardInput = input
            stdin = input.fileHandleForWriting
        }
        try process.run()
        let peer = PeerProcess(process: process, stdin: stdin)
        peer.stdoutBuffer.drain(output.fileHandleForReading)
        peer.stderrBuffer.drain(errors.fileHandleForReading)
        return peer
    }

    /// Whether the peer has not exited yet.
    public var isRunning: Bool { process.isRunning }

    /// Everything the peer wrote to stdout so far.
    public var stdout: String { stdoutBuffer.text }

    /// Everything the peer wrote to stderr so far.
    public var stderr: String { stderrBuffer.text }

    /// The start and the end of a long text, for failure messages.
    public static func clip(_ text: String) -> String {
        text.count <= 8000 ? text : "\(text.prefix(3000))\n[…]\n\(text.suffix(5000))"
    }

    /// The stdout lines that start with `{` and parse as JSON, in order.
    public var jsonLines: [JSONValue] {
        Self.jsonLines(in: stdout)
    }

    /// The lines of `text` that start with `{` and parse as JSON, in order.
    public static func jsonLines(in text: String) -> [JSONValue] {
        text.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("{") else { return nil }
            return try? JSONDecoder().decode(JSONValue.self, from: Data(line.utf8))
        }
    }

    /// The first stdout line without its newline, waiting at most `timeout`; `nil` when none came
    /// in time or the peer ended without one.
    public func firstLine(timeout: Duration) async -> String? {
        var line: String?
        _ = await poll(timeout: timeout) {
            let text = stdout
            if let newline = text.firstIndex(of: "\n") {
                line = String(text[..<newline])
                return true
            }
            return !process.isRunning && stdoutBuffer.finished
        }
        return line
    }

    /// The first JSON line that matches `predicate`, waiting at most `timeout`; `nil` when none
    /// came in time or the peer ended without one.
    public func waitForJSONLine(timeout: Duration, where predicate: (JSONValue) -> Bool) async -> JSONValue? {
        var found: JSONValue?
        _ = await poll(timeout: timeout) {
            // Read the end state first: output that came before it is then in `jsonLines`.
            let ended = !process.isRunning && stdoutBuffer.finished
            found = jsonLines.first(where: predicate)
            return found != nil || ended
        }
        return found
    }

    /// Sends SIGKILL to the peer (by its pid) if it is still running.
    public func kill() {
        guard process.isRunning else { return }
        sendSignal(SIGKILL)
    }

    /// Sends SIGKILL and waits (5 s at most) until the peer is gone.
    public func killAndWait() async {
        kill()
        _ = await poll(timeout: .seconds(5)) { !process.isRunning }
    }

    /// Waits at most `timeout` for the peer to exit by itself, then SIGKILLs it, and collects
    /// what it wrote.
    ///
    /// After SIGKILL the exit gets 5 s more, and the output 2 s more to reach end of file.
    public func finish(within timeout: Duration) async -> Termination {
        var killed = false
        if await !poll(timeout: timeout, { !process.isRunning }) {
            killed = true
            kill()
            _ = await poll(timeout: .seconds(5)) { !process.isRunning }
        }
        return await collect(killed: killed)
    }

    /// Stops the peer: SIGTERM, SIGKILL if it is still running after `killAfter`, then waits
    /// (2 s more at most) for the exit and for its output to end.
    ///
    /// A child inherits its parent's signal mask, and the threads of `swift test` block SIGTERM:
    /// a peer must unblock SIGTERM itself (as `Tests/Interop/socketio_server_peer.py` does), or
    /// the signal stays pending for ever and only the SIGKILL ends it.
    public func terminate(killAfter: Duration = .seconds(3)) async -> Termination {
        if process.isRunning { sendSignal(SIGTERM) }
        var killed = false
        if await !poll(timeout: killAfter, { !process.isRunning }) {
            sendSignal(SIGKILL)
            killed = true
            _ = await poll(timeout: .seconds(2)) { !process.isRunning }
        }
        return await collect(killed: killed)
    }

    /// Closes stdin, waits (2 s at most) for both streams to reach end of file, and reads the
    /// exit status.
    private func collect(killed: Bool) async -> Termination {
        try? stdin?.close()  // best effort: the pipe only signals the end of this process
        _ = await poll(timeout: .seconds(2)) { stdoutBuffer.finished && stderrBuffer.finished }
        guard !process.isRunning else { return Termination(status: nil, bySignal: false, killed: killed) }
        return Termination(status: process.terminationStatus, bySignal: process.terminationReason == .uncaughtSignal, killed: killed)
    }

    /// `kill(pid, signal)` for this child only.
    private func sendSignal(_ signal: Int32) {
        #if canImport(Glibc)
        _ = Glibc.kill(process.processIdentifier, signal)
        #elseif canImport(Darwin)
        _ = Darwin.kill(process.processIdentifier, signal)
        #endif
    }

    /// Evaluates `condition` every 10 ms until it holds (`true`) or `timeout` passes (`false`).
    private func poll(timeout: Duration, _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(10))  // only cancellation throws; the loop is bounded anyway
        }
        return true
    }
}

/// Bytes read from a pipe on a background thread until end of file.
private final class OutputBuffer: Sendable {
    private let state = Mutex<(data: Data, finished: Bool)>((Data(), false))

    func drain(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            while true {
                let chunk = handle.availableData  // blocks until data or end of file
                if chunk.isEmpty { break }
                state.withLock { $0.data.append(chunk) }
            }
            state.withLock { $0.finished = true }
        }
    }

    var text: String { String(decoding: state.withLock { $0.data }, as: UTF8.self) }
    var finished: Bool { state.withLock { $0.finished } }
}
