import GRDB
import ParleyStore

extension StoreError {
    /// The error of a failed open: damaged files are ``Code/corrupt``, everything else
    /// ``Code/cannotOpen``.
    init(opening error: any Error, path: String) {
        if let error = error as? StoreError {
            self = error
        } else if let error = error as? DatabaseError, Self.isCorruption(error) {
            self.init(.corrupt, path: path, detail: "\(error)")
        } else {
            self.init(.cannotOpen, path: path, detail: "\(error)")
        }
    }

    /// The error of a failed read or write on an open store.
    init(operating error: any Error, path: String) {
        if let error = error as? StoreError {
            self = error
        } else if let error = error as? DatabaseError, Self.isCorruption(error) {
            self.init(.corrupt, path: path, detail: "\(error)")
        } else {
            self.init(.ioFailure, path: path, detail: "\(error)")
        }
    }

    private static func isCorruption(_ error: DatabaseError) -> Bool {
        error.resultCode == .SQLITE_NOTADB || error.resultCode == .SQLITE_CORRUPT
    }
}
