public import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import Parley
import ParleySQLite
import ServiceLifecycle
import UnixSignals

/// The server side of `parley bench`: echo with ack, room joins and room broadcasts on the
/// main namespace. The contract (shared with `python/bench_server.py`) is in
/// `Samples/BenchServer/README.md`.
@main
struct BenchServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The Socket.IO server that `parley bench` measures.")

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free one.")
    var port = 3000

    @Option(help: "Event-loop threads; default: the cores this process may run on (taskset).")
    var threads: Int?

    @Option(help: "Log level (trace, debug, info, notice, warning, error, critical).")
    var logLevel: Logger.Level = .warning

    @Option(help: "The SQLite file of connection state recovery (created if missing).")
    var recoveryStore = "data/bench-server-recovery.sqlite"

    @Flag(help: "Turn connection state recovery off.")
    var noRecovery = false

    @Option(help: "Seconds a disconnected socket stays recoverable.")
    var maxDisconnectionDuration = 120

    @Option(help: "Allowed CORS origin, for pages served elsewhere; repeat for several, '*' for any. CORS is off without it.")
    var corsOrigin: [String] = []

    @Option(help: "A folder whose files are served at /<file name> (test pages, a client bundle); read once at start.")
    var staticDir: String?

    func validate() throws {
        if let staticDir {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: staticDir, isDirectory: &isFolder), isFolder.boolValue else {
                throw ValidationError("--static-dir: '\(staticDir)' is not a folder")
            }
        }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        let logger = Logger(label: "parley.bench-server")

        var configuration = SocketServerConfiguration()
        configuration.engine.address = .hostname(host, port: port)
        // Load generators open tens of thousands of sessions from a few addresses, at
        // thousands per second: the per-address and rate limits would measure themselves.
        configuration.engine.limits = .unlimited
        if !corsOrigin.isEmpty {
            configuration.engine.cors = CORSConfiguration(allowedOrigins: corsOrigin.contains("*") ? .any : .list(corsOrigin))
        }
        if let staticDir {
            // A file of the folder replaces a document the server would serve at the same path.
            for (path, file) in try Self.staticFiles(in: staticDir) {
                configuration.engine.staticFiles[path] = file
            }
        }
        if !noRecovery {
            // The store creates the file and its folder; a path it cannot use stops the server
            // at start with the store's error.
            configuration.connectionStateRecovery = ConnectionStateRecovery(
                store: SQLiteRecoveryStore(path: recoveryStore),
                maxDisconnectionDuration: .seconds(maxDisconnectionDuration)
            )
        }
        let host = self.host
        let port = self.port
        // One loop per core the process may use: two loops sharing one pinned core only take
        // turns and pay for the switches.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads ?? Self.allowedCores())
        let server = SocketServer(configuration: configuration, eventLoopGroup: group, logger: logger) { address in
            // Unbuffered, once the service group traps SIGTERM/SIGINT: the load generator reads the
            // first line to learn the port and the second to find the process whose CPU time it
            // samples from /proc, and may stop the server as soon as it has them.
            FileHandle.standardOutput.write(Data("""
                BenchServer listening on http://\(host):\(address.port ?? port)/
                pid \(ProcessInfo.processInfo.processIdentifier)

                """.utf8))
        }
        BenchContract(server: server).attach()
        let services = ServiceGroup(
            configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await services.run()
        try await group.shutdownGracefully()
    }

    /// Every regular file directly in `folder` (hidden ones excepted), keyed `/<file name>`,
    /// with a content type from its extension.
    static func staticFiles(in folder: String) throws -> [String: StaticFile] {
        let url = URL(fileURLWithPath: folder, isDirectory: true)
        let entries = try FileManager.default.contentsOfDirectory(
            at: url, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles]
        )
        var files: [String: StaticFile] = [:]
        for entry in entries where (try? entry.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
            let body = try Data(contentsOf: entry)
            files["/" + entry.lastPathComponent] = StaticFile(contentType: contentType(of: entry), body: ByteBuffer(bytes: body))
        }
        return files
    }

    static func contentType(of file: URL) -> String {
        switch file.pathExtension.lowercased() {
        case "html", "htm": "text/html; charset=utf-8"
        case "js", "mjs": "text/javascript; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "json", "map": "application/json"
        case "txt": "text/plain; charset=utf-8"
        case "png": "image/png"
        case "svg": "image/svg+xml"
        default: "application/octet-stream"
        }
    }

    /// The number of cores in this process's CPU affinity mask (`Cpus_allowed` in
    /// /proc/self/status), or every core where that is not available.
    static func allowedCores() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") })
        else { return System.coreCount }
        let count = line.dropFirst("Cpus_allowed:".count).reduce(0) { count, character in
            count + (character.hexDigitValue?.nonzeroBitCount ?? 0)
        }
        return count > 0 ? count : System.coreCount
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
