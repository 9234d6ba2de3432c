import Logging
import NIOCore
import NIOEmbedded
@_spi(Testing) import ParleyEngine
import ParleyProtocol

/// One input is the bytes a client sends on one connection to the engine: HTTP requests, and
/// WebSocket frames after an upgrade. They go through the server's real connection pipeline on
/// an `EmbeddedChannel`, in reads of `1 + size % 97` bytes, with virtual time moving between
/// reads so heartbeats and timeouts fire. Every `{sid}` in the input is first replaced by the
/// id of a session opened by a polling handshake on another connection, so the fuzzer reaches
/// polls, posts and upgrades of a live session.
///
/// Invariant: nothing crashes or traps; responses are read and discarded.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPPipeline(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let loop = EmbeddedEventLoop()
    let harness = EngineConnectionHarness(configuration: configuration, handler: Echo(), logger: logger)
    let sid = handshake(harness, loop: loop) ?? "none"

    let input = substitute(Array(UnsafeBufferPointer(start: data, count: size)), sid: Array(sid.utf8))
    let channel = EmbeddedChannel(loop: loop)
    do {
        try harness.configure(channel)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    } catch {
        fatalError("could not set up the connection: \(error)")
    }
    let step = 1 + size % 97
    var offset = 0
    while offset < input.count, channel.isActive {
        let end = min(offset + step, input.count)
        // A pipeline error surfaces here as a thrown error: allowed, only crashes are not.
        _ = try? channel.writeInbound(ByteBuffer(bytes: input[offset..<end]))
        loop.run()
        drain(channel)
        loop.advanceTime(by: .milliseconds(150))
        offset = end
    }
    loop.advanceTime(by: .seconds(2))
    drain(channel)
    _ = try? channel.finish(acceptAlreadyClosed: true)
    harness.finishAllSessions()
    loop.advanceTime(by: .seconds(60))
    loop.run()
    try? loop.syncShutdownGracefully()
    return 0
}

private let logger = Logger(label: "parley.fuzz") { _ in SwiftLogNoOpLogHandler() }

private let configuration: EngineConfiguration = {
    var configuration = EngineConfiguration()
    configuration.pingInterval = .milliseconds(300)
    configuration.pingTimeout = .milliseconds(200)
    configuration.upgradeTimeout = .milliseconds(500)
    configuration.maxPayloadBytes = 4096
    configuration.maxQueuedPackets = 64
    configuration.idleConnectionTimeout = .seconds(1)
    configuration.cors = CORSConfiguration(allowedOrigins: .list(["http://a.example"]), allowCredentials: true)
    configuration.staticFiles["/"] = StaticFile(contentType: "text/html", body: ByteBuffer(string: "<p>hi</p>"))
    configuration.rawWebSocketEchoPath = "/raw"
    return configuration
}()

/// Opens a polling session on its own connection and returns its id.
private func handshake(_ harness: EngineConnectionHarness, loop: EmbeddedEventLoop) -> String? {
    let channel = EmbeddedChannel(loop: loop)
    defer { _ = try? channel.finish(acceptAlreadyClosed: true) }
    do {
        try harness.configure(channel)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(ByteBuffer(string: "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"))
    } catch {
        fatalError("the handshake failed: \(error)")
    }
    loop.run()
    var response = ""
    while let buffer = try? channel.readOutbound(as: ByteBuffer.self) {
        response += String(buffer: buffer)
    }
    guard let start = response.firstRange(of: #""sid":""#)?.upperBound else { return nil }
    return String(response[start...].prefix(20))
}

/// `input` with every `{sid}` replaced by `sid`.
private func substitute(_ input: [UInt8], sid: [UInt8]) -> [UInt8] {
    let token = Array("{sid}".utf8)
    var output: [UInt8] = []
    output.reserveCapacity(input.count)
    var index = 0
    while index < input.count {
        if input[index] == token[0], input[index...].starts(with: token) {
            output += sid
            index += token.count
        } else {
            output.append(input[index])
            index += 1
        }
    }
    return output
}

private func drain(_ channel: EmbeddedChannel) {
    while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
}

/// Sends each message straight back.
private struct Echo: EngineHandler {
    func sessionOpened(_ session: EngineSession) {}
    func session(_ session: EngineSession, received message: EngineMessage) { session.send(message) }
    func session(_ session: EngineSession, closedWith reason: EngineCloseReason) {}
}
