public import ArgumentParser
import Foundation
import Logging
import ParleyClient

/// A terminal client for the Chat sample: each line typed is a message to the room; what the
/// others say, who comes and goes, and what happens to the connection is printed as it happens.
/// The chat protocol is described in `Samples/Chat/README.md`.
@main
struct ChatCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ChatCLI",
        abstract: "A terminal client for the Chat sample.",
        discussion: "Type a line to send it to the room; /quit or end of input (Ctrl-D) leaves."
    )

    @Option(help: "The Chat server.")
    var url = "http://127.0.0.1:3000"

    @Option(help: "Your nickname (1 to 24 characters).")
    var nick: String

    @Option(help: "The room to join (1 to 32 letters, digits, '-', '_' or '.').")
    var room = "lobby"

    @Option(help: "polling, websocket, upgrade (polling, then WebSocket if it works) or websocket-first.")
    var transport: TransportChoice = .upgrade

    @Option(help: "Log level of the client library (trace … critical), to stderr.")
    var logLevel: Logger.Level = .warning

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        var configuration = SocketClientConfiguration()
        configuration.transports = transport.strategy
        let manager: SocketManager
        do {
            manager = try SocketManager(url: url, configuration: configuration, logger: Logger(label: "parley.chatcli"))
        } catch {
            throw ValidationError("--url: \(error)")
        }
        let client = ChatClient(manager: manager, nick: nick, room: room)
        if try await client.run(lines: StandardInput.lines()) == .failed {
            throw ExitCode.failure
        }
    }
}

/// The `--transport` choices.
enum TransportChoice: String, ExpressibleByArgument, CaseIterable {
    case polling
    case websocket
    case upgrade
    case websocketFirst = "websocket-first"

    var strategy: SocketClientConfiguration.Transports {
        switch self {
        case .polling: .pollingOnly
        case .websocket: .webSocketOnly
        case .upgrade: .pollingThenUpgrade
        case .websocketFirst: .webSocketFirst
        }
    }
}

/// Standard input, line by line.
enum StandardInput {
    /// The lines of standard input, ending at end of input.
    ///
    /// `readLine()` blocks, so it runs on a thread of its own rather than on the concurrency
    /// pool; at exit that thread may still be waiting for a line, which is harmless.
    static func lines() -> AsyncStream<String> {
        let (lines, sink) = AsyncStream.makeStream(of: String.self)
        let reader = Thread {
            while let line = readLine(strippingNewline: true) {
                sink.yield(line)
            }
            sink.finish()
        }
        reader.name = "stdin"
        reader.start()
        return lines
    }
}

/// Standard output, one whole line per write, unbuffered: a script reading the output through
/// a pipe sees each line as soon as it is printed.
enum Console {
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    /// `HH:mm:ss` in local time of a JavaScript timestamp (milliseconds since 1970).
    static func clock(_ milliseconds: Int64) -> String {
        let date = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
        let parts = Calendar.current.dateComponents([.hour, .minute, .second], from: date)
        return String(format: "%02d:%02d:%02d", parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
