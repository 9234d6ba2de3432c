/// A store could not do what was asked: it cannot be opened, or an operation failed.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, as a category.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case cannotOpen = "cannot open"
            case corrupt
            case newerSchema = "newer schema"
            case notOpen = "not open"
            case ioFailure = "I/O failure"
            case inUse = "in use"
            case full
        }

        private let base: Base

        private init(_ base: Base) { self.base = base }

        /// The file or its folder cannot be created, read or written.
        public static let cannotOpen = Code(.cannotOpen)
        /// The file is not a database of this kind, or is damaged.
        public static let corrupt = Code(.corrupt)
        /// The file was written by a newer version of the store, which this one does not know.
        public static let newerSchema = Code(.newerSchema)
        /// The store was used before ``RecoveryStore/open(now:)`` or after ``RecoveryStore/close()``.
        public static let notOpen = Code(.notOpen)
        /// A read or write failed.
        public static let ioFailure = Code(.ioFailure)
        /// Another process has the store open.
        public static let inUse = Code(.inUse)
        /// The disk, or the size limit of the database, is full: nothing more can be written
        /// until space is freed.
        public static let full = Code(.full)

        public var description: String { base.rawValue }
    }

    /// The category.
    public var code: Code
    /// The file concerned, when there is one.
    public var path: String?
    /// Details, e.g. the underlying database error.
    public var detail: String

    /// Creates an error.
    public init(_ code: Code, path: String? = nil, detail: String) {
        self.code = code
        self.path = path
        self.detail = detail
    }

    public var description: String {
        if let path { "store \(code) (\(path)): \(detail)" } else { "store \(code): \(detail)" }
    }
}
