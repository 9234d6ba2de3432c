import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ParleyProtocol
import ParleyStore

/// History requests (`Protocol/reliable.md` § 4.2).
extension ReliableRuntime {
    private struct HistoryRequest: Decodable {
        var room: String
        var after: String?
        var last: Int?
        var limit: Int?
    }

    func answerHistory(_ socket: Socket, payload: ByteBuffer, ackID: UInt64?) {
        guard let ackID else { return }
        let arguments = SocketArguments(eventPayload: payload, attachments: [])
        guard let request = try? arguments.decode(HistoryRequest.self, at: 0), !request.room.isEmpty,
            (request.limit ?? 1) > 0, (request.last ?? 1) > 0
        else {
            reply(socket, ackID: ackID, ReliableMarker.errorAnswer("bad_request", "expected {\"room\":…, \"after\"?:…, \"last\"?:…, \"limit\"?:…}"), attachments: [])
            return
        }
        // Counted against the connection's handlers in flight (past the limit it is closed).
        socket.client.spawn { [self] in
            let answer = await history(for: socket, request)
            reply(socket, ackID: ackID, answer, attachments: [])
        }
    }

    private func history(for socket: Socket, _ request: HistoryRequest) async -> ByteBuffer {
        guard let log else { return ReliableMarker.errorAnswer("store_failed", "the server is not running") }
        var allowed = socket.rooms.contains(request.room)
        if !allowed, let authorize = configuration.authorizeHistory { allowed = await authorize(socket, request.room) }
        guard allowed else { return ReliableMarker.errorAnswer("forbidden", "not a member of \(request.room)") }
        let limit = min(request.last ?? request.limit ?? 100, configuration.maxHistoryPage)
        var after: UInt64?
        var reset = false
        if let text = request.after {
            if let position = ReliableMarker.parsePosition(text), position.epoch == log.epoch {
                after = position.number
            } else {
                reset = true
            }
        }
        let key = RoomKey(namespace: socket.namespace.name, room: request.room)
        do {
            let newest = after == nil && !reset && request.last != nil
            var page = try await log.store.history(of: key, after: after, limit: newest ? limit : limit + 1, newest: newest)
            if let after, after > page.latest {
                // A position from the future of this epoch: not one this store handed out.
                reset = true
                page = try await log.store.history(of: key, after: nil, limit: limit + 1, newest: false)
            }
            let more = !newest && page.messages.count > limit
            if more { page.messages.removeLast(page.messages.count - limit) }
            return Self.encode(page, room: request.room, epoch: log.epoch, more: more, reset: reset || page.truncated)
        } catch {
            logger.error("reliable delivery could not read a room's history", metadata: ["parley.room": "\(key)", "parley.error": "\(error)"])
            return ReliableMarker.errorAnswer("store_failed", "the history could not be read")
        }
    }

    /// `[{"room":…,"messages":[{"offset":…,"at":…,"event":[…]}],"latest":…,"more":…,"reset":…}]`
    private static func encode(_ page: HistoryPage, room: String, epoch: String, more: Bool, reset: Bool) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(64 + page.messages.reduce(0) { $0 + $1.message.payload.count + 48 })
        buffer.writeStaticString("[{\"room\":")
        buffer.writeJSONString(room)
        buffer.writeStaticString(",\"messages\":[")
        for (index, entry) in page.messages.enumerated() {
            if index > 0 { buffer.writeStaticString(",") }
            buffer.writeStaticString("{\"offset\":")
            buffer.writeJSONString(ReliableMarker.position(epoch: epoch, entry.offset))
            buffer.writeStaticString(",\"at\":")
            buffer.writeString(String(entry.message.timeMilliseconds))
            buffer.writeStaticString(",\"event\":")
            buffer.writeBytes(entry.message.payload)
            buffer.writeStaticString("}")
        }
        buffer.writeStaticString("],\"latest\":")
        buffer.writeJSONString(ReliableMarker.position(epoch: epoch, page.latest))
        buffer.writeStaticString(more ? ",\"more\":true" : ",\"more\":false")
        buffer.writeStaticString(reset ? ",\"reset\":true}]" : ",\"reset\":false}]")
        return buffer
    }
}
