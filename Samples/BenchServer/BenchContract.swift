import Parley

/// The three events the load generator sends, on the main namespace:
///
/// - `echo(args...)` with an ack id: acknowledged with the same arguments, byte for byte;
/// - `join(room)` with an ack id: the socket joins `room`, acknowledged with `room`;
/// - `broadcast(room, payload)`: `msg(payload)` to every socket in `room`, the sender included
///   when it is a member; acknowledged with no arguments when the client asks for an ack.
/// - `publish(room, payload...)` with an ack id: like `broadcast`, but acknowledged (with
///   `true`) only once the message is committed to the recovery log, so a publisher knows what
///   a crash cannot take back.
///
/// Arguments that only pass through are never decoded: `ack(arguments:)` and
/// `emit(_:arguments:)` forward the bytes (and binary attachments) as they came.
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
        }
    }
}
