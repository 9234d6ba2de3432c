public import ParleyStore

/// A reliable emit was not accepted; nothing of it was queued or appended.
public struct ReliableError: Error, Sendable, CustomStringConvertible {
    /// Why, as a category.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case tooLarge = "too large"
            case queueFull = "queue full"
            case storeFailed = "store failed"
            case unsupported
            case notEnabled = "not enabled"
        }

        private let base: Base

        private init(_ base: Base) { self.base = base }

        /// The message exceeds ``ReliableDelivery/maxMessageBytes``.
        public static let tooLarge = Code(.tooLarge)
        /// The user's queue is at its bounds and the policy refuses new messages.
        public static let queueFull = Code(.queueFull)
        /// The store could not commit (``ReliableError/storeError`` says why).
        public static let storeFailed = Code(.storeFailed)
        /// The emit asks for something reliable delivery does not do (e.g. binary in a room's
        /// history, or several rooms at once).
        public static let unsupported = Code(.unsupported)
        /// The server was configured without ``SocketServerConfiguration/reliableDelivery``, or
        /// is not running.
        public static let notEnabled = Code(.notEnabled)

        public var description: String { base.rawValue }
    }

    /// The category.
    public var code: Code
    /// Details for a person.
    public var detail: String
    /// The user's queue as it was, for ``Code/queueFull``.
    public var queueState: UserQueueState?
    /// The store's error, for ``Code/storeFailed``.
    public var storeError: StoreError?

    /// Creates an error.
    public init(_ code: Code, detail: String, queueState: UserQueueState? = nil, storeError: StoreError? = nil) {
        self.code = code
        self.detail = detail
        self.queueState = queueState
        self.storeError = storeError
    }

    public var description: String { "reliable emit refused (\(code)): \(detail)" }
}
