import Foundation
import GRDBSQLite

/// A value that a ``RawStatement`` binds to a parameter through SQLite's C interface.
protocol RawBindable {
    /// Binds the value to parameter `index` (from 1) of `statement`.
    ///
    /// - Returns: SQLite's result code.
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32
}

/// `SQLITE_TRANSIENT`: SQLite copies the bound bytes before the call returns.
private var transient: sqlite3_destructor_type { unsafeBitCast(-1, to: sqlite3_destructor_type.self) }

extension Int64: RawBindable {
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32 {
        sqlite3_bind_int64(statement, index, self)
    }
}

extension String: RawBindable {
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32 {
        // An empty text must not be bound as `NULL`, which a missing pointer would be.
        if isEmpty { return sqlite3_bind_text(statement, index, "", 0, transient) }
        var text = self
        return text.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { sqlite3_bind_text(statement, index, $0.baseAddress, Int32($0.count), transient) }
        }
    }
}

/// A blob; an empty one is an empty blob, not `NULL`.
extension Array: RawBindable where Element == UInt8 {
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32 {
        if isEmpty { return sqlite3_bind_zeroblob(statement, index, 0) }
        return withUnsafeBytes { sqlite3_bind_blob(statement, index, $0.baseAddress, Int32($0.count), transient) }
    }
}

/// A blob; an empty one is an empty blob, not `NULL`.
extension Data: RawBindable {
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32 {
        if isEmpty { return sqlite3_bind_zeroblob(statement, index, 0) }
        return withUnsafeBytes { sqlite3_bind_blob(statement, index, $0.baseAddress, Int32($0.count), transient) }
    }
}

/// `NULL` for `nil`.
extension Optional: RawBindable where Wrapped: RawBindable {
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32 {
        guard let value = self else { return sqlite3_bind_null(statement, index) }
        return value.bind(to: statement, at: index)
    }
}
