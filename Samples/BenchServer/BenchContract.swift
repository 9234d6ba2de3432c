import Parley

/// The events of the contract, on the main namespace (`parley bench` sends the first three):
///
/// - `echo(args...)` with an ack id: acknowledged with the same arguments, byte for byte;
/// - `join(room)` with an ack id: the socket joins `room`, acknowledged with `room`;
/// - `broadcast(room, payload)`: `msg(payload)` to every socket in `room`, the sender included
///   when it is a member; acknowledged with no arguments when the client asks for an ack.
/// - `publish(room, payload...)` with an ack id: like `broadcast`, but acknowledged (with
///   `true`) only once the message is committed to the recovery log, so a publisher knows what
///   a crash cannot take back.
/// - `ask(event, args...)` with an ack id: the server emits `event(args...)` to the sender
///   with an ack id of its own and acknowledges `ask` with the arguments the client answered
///   with; with one argument `{"error": description}` when the client does not answer within
///   10 s or leaves. This is how browser tests check acks from server to client.
///
/// Arguments that only pass through are never decoded: `ack(arguments:)`,
/// `emit(_:arguments:)` and `emitWithAck(_:arguments:)` forward the bytes (and binary
/// attachments) as they came.
struct BenchContract: Sendable {
    let server: SocketServer

    /// Installs the handlers on every socket of the main namespace.
    func attach() {
        let server = self.server
        server.onConnection { socket in
            // Handlers reach their socket through `event.socket`, so none of them captures it.
            socket.on("echo") { event in
                event.ack(arguments: event.arguments)
            }
            socket.on("join") { event in
                let room = try event.argument(0, as: String.self)
                event.socket.join(room)
                try event.ack(room)
            }
            socket.on("broadcast") { event in
                let room = try event.argument(0, as: String.self)
                server.to(room).emit("msg", arguments: event.arguments.dropFirst())
                try event.ack()
            }
            socket.on("publish", answer: { event in
                let room = try event.argument(0, as: String.self)
                server.to(room).emit("msg", arguments: event.arguments.dropFirst())
                try await server.flushRecoveryLog()
                return true
            })
            socket.on("ask", answer: { event in
                let name = try event.argument(0, as: String.self)
                do {
                    let answer = try await event.socket.emitWithAck(name, arguments: event.arguments.dropFirst())
                    event.ack(arguments: answer)
                } catch {
                    try event.ack(["error": "\(error)"])
                }
                // Only the first ack of an event is sent: `ask` was answered above, so the
                // ack of this return value is dropped.
                return true
            })
        }
    }
}
