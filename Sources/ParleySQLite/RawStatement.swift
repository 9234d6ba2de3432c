import GRDB
import GRDBSQLite

/// A cached GRDB statement run through SQLite's C interface, for the statements a commit runs
/// thousands of times: GRDB boxes every argument and row, which costs more than SQLite's own
/// work for a one-row insert or lookup.
///
/// Each run binds every parameter, steps, and leaves the statement reset, so that GRDB may
/// use it again. An error becomes a GRDB `DatabaseError`, as from any GRDB statement.
struct RawStatement {
    /// Keeps the statement alive; GRDB finalizes it when the connection closes.
    private let statement: Statement
    private var handle: OpaquePointer { statement.sqliteStatement }

    /// The statement of `sql` from the connection's cache, prepared on first use.
    init(_ db: Database, _ sql: String) throws {
        statement = try db.cachedStatement(sql: sql)
    }

    /// Runs the statement to its end.
    func execute<each Argument: RawBindable>(_ arguments: repeat each Argument) throws {
        try bind(repeat each arguments)
        defer { sqlite3_reset(handle) }
        while try step() {}
    }

    /// Runs the statement and reads its first row with `read`; `nil` when it has none.
    func fetchFirst<each Argument: RawBindable, T>(_ arguments: repeat each Argument, read: (RawStatement) throws -> T) throws -> T? {
        try bind(repeat each arguments)
        defer { sqlite3_reset(handle) }
        return try step() ? read(self) : nil
    }

    /// The integer in `column` of the current row (0 for `NULL`).
    func integer(at column: Int32) -> Int64 {
        sqlite3_column_int64(handle, column)
    }

    /// Whether `column` of the current row is `NULL`.
    func isNull(at column: Int32) -> Bool {
        sqlite3_column_type(handle, column) == SQLITE_NULL
    }

    private func step() throws -> Bool {
        let code = sqlite3_step(handle)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw error(code)
        }
    }

    private func bind<each Argument: RawBindable>(_ arguments: repeat each Argument) throws {
        var index: Int32 = 0
        for argument in repeat each arguments {
            index += 1
            let code = argument.bind(to: handle, at: index)
            guard code == SQLITE_OK else { throw error(code) }
        }
    }

    private func error(_ code: Int32) -> DatabaseError {
        let message = String(cString: sqlite3_errmsg(sqlite3_db_handle(handle)))
        return DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: statement.sql)
    }
}
