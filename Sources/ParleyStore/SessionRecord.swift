/// What is kept of a socket so that its client can recover it: its ids, rooms and data.
///
/// A session is saved while the socket is connected (so that it survives a crash of the
/// server) and again when the socket leaves for a reason that allows recovery, with
/// ``disconnectedAtMilliseconds`` set.
public struct SessionRecord: Sendable, Hashable {
    /// The private session id the client presents to recover (`pid`).
    public var pid: String
    /// The public socket id, given back on recovery.
    public var socketID: String
    /// The namespace of the socket.
    public var namespace: String
    /// The rooms the socket was in, its own room left out.
    public var rooms: [String]
    /// The socket's application data, encoded by the server (JSON).
    public var data: [UInt8]
    /// When the socket left, in milliseconds since 1970; `nil` while it is connected.
    public var disconnectedAtMilliseconds: Int64?

    /// Creates a record.
    public init(pid: String, socketID: String, namespace: String, rooms: [String], data: [UInt8], disconnectedAtMilliseconds: Int64?) {
        self.pid = pid
        self.socketID = socketID
        self.namespace = namespace
        self.rooms = rooms
        self.data = data
        self.disconnectedAtMilliseconds = disconnectedAtMilliseconds
    }
}
