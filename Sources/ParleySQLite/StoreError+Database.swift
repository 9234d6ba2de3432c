import GRDB
import ParleyStore

extension StoreError {
    /// The error of a failed open: damaged files are ``Code/corrupt``, a full disk
    /// ``Code/full``, everything else ``Code/cannotOpen``.
    init(opening error: any Error, path: String) {
        if var error = error as? StoreError {
            error.path = error.path ?? path
            self = error
        } else if let error = error as? DatabaseError, let code = Self.code(of: error) {
            self.init(code, path: path, detail: "\(error)")
        } else {
            self.init(.cannotOpen, path: path, detail: "\(error)")
        }
    }

    /// The error of a failed read or write on an open store: damaged files are
    /// ``Code/corrupt``, a full disk or database ``Code/full``, everything else
    /// ``Code/ioFailure``.
    init(operating error: any Error, path: String) {
        if var error = error as? StoreError {
            error.path = error.path ?? path
            self = error
        } else if let error = error as? DatabaseError, let code = Self.code(of: error) {
            self.init(code, path: path, detail: "\(error)")
        } else {
            self.init(.ioFailure, path: path, detail: "\(error)")
        }
    }

    /// The code of the database errors that name their cause, whatever the store was doing.
    private static func code(of error: DatabaseError) -> Code? {
        switch error.resultCode {
        case .SQLITE_NOTADB, .SQLITE_CORRUPT: .corrupt
        // `SQLITE_FULL`: the disk is full, or the database reached `PRAGMA max_page_count`.
        case .SQLITE_FULL: .full
        default: nil
        }
    }
}
