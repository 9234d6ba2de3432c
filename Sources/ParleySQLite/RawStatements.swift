import GRDB

/// The raw statements of one database access, each looked up in the connection's cache once:
/// that lookup hashes the whole SQL text, which a batch would otherwise pay per operation.
///
/// Statements are found by the address of their literal, so that the SQL stays where it is
/// used; an access uses a handful, so a linear search beats hashing.
final class RawStatements {
    /// The connection, inside the access.
    let db: Database
    private var statements: [(sql: UnsafeRawPointer, statement: RawStatement)] = []

    /// Creates the set for one access to `db`; it must not outlive the access.
    init(_ db: Database) {
        self.db = db
    }

    /// The statement of `sql`.
    func callAsFunction(_ sql: StaticString) throws -> RawStatement {
        let key = UnsafeRawPointer(sql.utf8Start)
        if let found = statements.first(where: { $0.sql == key }) { return found.statement }
        let statement = try RawStatement(db, sql.description)
        statements.append((key, statement))
        return statement
    }
}
