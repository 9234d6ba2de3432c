import Foundation
import NIOCore

/// How the store's list and buffer columns are spelled in SQLite.
///
/// Room lists are text, so that the file stays readable with the `sqlite3` shell: the rooms
/// joined by `,`, with `\` escaping a `,` or a `\` inside a room name. An empty list is
/// `NULL`, so that `[""]` (one room with an empty name, spelled `""`) stays distinct from `[]`.
///
/// Attachments are one blob: each attachment as a 4-byte big-endian length followed by its
/// bytes; `NULL` when there is none.
enum ColumnCoding {
    private static let separator: Character = ","
    private static let escape: Character = "\\"

    /// The text of a room list; `nil` (SQL `NULL`) for an empty list.
    static func encodeRooms(_ rooms: [String]) -> String? {
        if rooms.isEmpty { return nil }
        if rooms.count == 1, !needsEscaping(rooms[0]) { return rooms[0] }
        var text = ""
        for (index, room) in rooms.enumerated() {
            if index > 0 { text.append(separator) }
            if needsEscaping(room) {
                for character in room {
                    if character == separator || character == escape { text.append(escape) }
                    text.append(character)
                }
            } else {
                text += room
            }
        }
        return text
    }

    /// The room list spelled by `text`.
    static func decodeRooms(_ text: String?) -> [String] {
        guard let text else { return [] }
        if !text.contains(escape) {
            return text.split(separator: separator, omittingEmptySubsequences: false).map(String.init)
        }
        var rooms: [String] = []
        var current = ""
        var escaped = false
        for character in text {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == escape {
                escaped = true
            } else if character == separator {
                rooms.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        rooms.append(current)
        return rooms
    }

    private static func needsEscaping(_ room: String) -> Bool {
        room.utf8.contains { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\\") }
    }

    /// The blob of a buffer.
    static func encodeBuffer(_ buffer: ByteBuffer) -> Data {
        Data(buffer.readableBytesView)
    }

    /// The blob of the attachments; `nil` (SQL `NULL`) when there is none.
    static func encodeAttachments(_ attachments: [ByteBuffer]) -> Data? {
        encodeAttachments(attachments.map(\.readableBytesView))
    }

    /// The blob of the attachments; `nil` (SQL `NULL`) when there is none.
    static func encodeAttachments<Bytes: Collection<UInt8>>(_ attachments: [Bytes]) -> Data? {
        if attachments.isEmpty { return nil }
        var data = Data(capacity: attachments.reduce(0) { $0 + 4 + $1.count })
        for attachment in attachments {
            let length = UInt32(attachment.count).bigEndian
            withUnsafeBytes(of: length) { data.append(contentsOf: $0) }
            data.append(contentsOf: attachment)
        }
        return data
    }

    /// The attachments of a blob; `nil` when the blob is damaged.
    static func decodeAttachments(_ data: Data?) -> [ByteBuffer]? {
        guard let data, !data.isEmpty else { return [] }
        var attachments: [ByteBuffer] = []
        var buffer = ByteBuffer(bytes: data)
        while buffer.readableBytes > 0 {
            guard let length = buffer.readInteger(endianness: .big, as: UInt32.self),
                  let attachment = buffer.readSlice(length: Int(length))
            else { return nil }
            attachments.append(attachment)
        }
        return attachments
    }

    /// The attachments of a blob as byte arrays; `nil` when the blob is damaged.
    static func decodeByteAttachments(_ data: Data?) -> [[UInt8]]? {
        decodeAttachments(data)?.map { Array($0.readableBytesView) }
    }
}
