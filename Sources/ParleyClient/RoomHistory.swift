import Foundation
import NIOCore
public import ParleyProtocol

/// One page of a room's history (`Protocol/reliable.md` § 4.2), as
/// ``ClientSocket/history(room:limit:)`` returns it.
public struct RoomHistory: Sendable {
    /// A message of the page.
    public struct Message: Sendable {
        /// Its offset in the room, `<epoch>.<n>`.
        public var offset: String
        /// When it was appended, in milliseconds since 1970, if the server said.
        public var timeMilliseconds: Int64?
        /// The event as it was emitted (no marker), with ``ClientEvent/room`` and
        /// ``ClientEvent/roomOffset`` set.
        public var event: ClientEvent
    }

    /// The room.
    public var room: String
    /// The messages, oldest first.
    public var messages: [Message]
    /// The offset of the room's newest message, if the server said.
    public var latest: String?
    /// More messages follow this page: ask again (the position moved to its last message).
    public var more: Bool
    /// The position could not be continued from (messages after it were removed, or the server's
    /// store was replaced): the page starts at the oldest message kept, and the application
    /// should reload its view of the room.
    public var reset: Bool
}

extension RoomHistory {
    private struct Header: Decodable {
        struct MessageHeader: Decodable {
            var offset: String
            var at: Int64?
        }

        var messages: [MessageHeader]
        var latest: String?
        var more: Bool?
        var reset: Bool?
    }

    /// Reads the page an answer to `parley:history` holds.
    ///
    /// - Throws: ``RoomHistoryError`` with ``ReliableErrorCode/invalidAnswer``.
    init(answer: SocketArguments, room: String) throws {
        let invalid = RoomHistoryError(.invalidAnswer, message: "not a history page: \(answer.jsonText.prefix(200))", room: room)
        let bytes = Array(answer.json.readableBytesView)
        guard let page = JSONSlices.elements(ofArray: bytes)?.first,
            let header = try? JSONDecoder().decode(Header.self, from: Data(bytes[page])),
            let messagesRange = JSONSlices.members(ofObject: bytes, in: page)?.first(where: { $0.key == "messages" })?.value,
            let messageRanges = JSONSlices.elements(ofArray: bytes, in: messagesRange),
            messageRanges.count == header.messages.count
        else { throw invalid }
        var messages: [Message] = []
        messages.reserveCapacity(messageRanges.count)
        for (range, message) in zip(messageRanges, header.messages) {
            // The event keeps its bytes as the server sent them: the application decodes it
            // as it decodes a live event.
            guard let eventRange = JSONSlices.members(ofObject: bytes, in: range)?.first(where: { $0.key == "event" })?.value,
                let nameRange = JSONSlices.elements(ofArray: bytes, in: eventRange)?.first,
                let name = JSONSlices.string(bytes, in: nameRange)
            else { throw invalid }
            let arguments = SocketArguments(eventPayload: ByteBuffer(bytes: bytes[eventRange]), attachments: [])
            let event = ClientEvent(name: name, arguments: arguments, reply: nil, room: room, roomOffset: message.offset)
            messages.append(Message(offset: message.offset, timeMilliseconds: message.at, event: event))
        }
        self.init(room: room, messages: messages, latest: header.latest, more: header.more ?? false, reset: header.reset ?? false)
    }
}
