import Logging
import ParleyProtocol
import Synchronization

/// Reading a room's history from the client's position in it (`Protocol/reliable.md` § 4.2,
/// § 6.3).
extension ClientSocket {
    /// The room messages this client has not seen: the page after its position in `room`,
    /// which then moves to the page's last message (persisted in the store).
    ///
    /// Sends `parley:history` with `after` set to the remembered offset; with no position yet
    /// (the client never saw a message of the room) it asks for the newest `limit` messages
    /// instead (`last`), as a client joining a room shows the latest conversation. Call again
    /// while ``RoomHistory/more`` is true. On ``RoomHistory/reset`` the page starts at the
    /// oldest message the server keeps: reload the room's view.
    ///
    /// ```swift
    /// let page = try await chat.history(room: "lobby")
    /// if page.reset { view.clear() }
    /// for message in page.messages { view.append(try message.event.argument(0, as: Line.self)) }
    /// ```
    ///
    /// - Parameters:
    ///   - room: The room.
    ///   - limit: The most messages in the page (the server allows at most 1 000).
    /// - Throws: ``RoomHistoryError`` (``ReliableErrorCode/forbidden``,
    ///   ``ReliableErrorCode/badRequest``, ``ReliableErrorCode/invalidAnswer``,
    ///   ``ReliableErrorCode/notEnabled``); the errors of ``emitWithAck(_:_:timeout:retries:)``;
    ///   `StoreError`.
    public func history(room: String, limit: Int = 100) async throws -> RoomHistory {
        guard let runtime = manager.reliable else { throw RoomHistoryError(.notEnabled, room: room) }
        _ = try await runtime.opened()
        let remembered = try await roomPosition(room, runtime: runtime)
        let request = HistoryRequest(room: room, after: remembered, last: remembered == nil ? limit : nil, limit: remembered == nil ? nil : limit)
        let answer = try await emitWithAck(HistoryRequest.event, request)
        if let marker = ReliableMarker.error(inAnswer: answer), let code = marker.error {
            throw RoomHistoryError(ReliableErrorCode(wireName: code), message: marker.message, room: room)
        }
        let page = try RoomHistory(answer: answer, room: room)
        // An empty page after a reset (nothing kept) still moves the position, to the latest.
        if let position = page.messages.last?.offset ?? (page.reset ? page.latest : nil) {
            _ = await advanceRoomPosition(room, to: position, runtime: runtime)
        }
        return page
    }
}

/// The argument of `parley:history`.
private struct HistoryRequest: Encodable, Sendable {
    static let event = "parley:history"

    var room: String
    var after: String?
    var last: Int?
    var limit: Int?
}
