import ParleyStore
import Synchronization

/// A manager's side of reliable delivery: its configuration, its store once opened, and the
/// sequence of its outbox keys.
final class ClientReliableRuntime: Sendable {
    let configuration: ClientReliability
    private let opening = AsyncOnce<ClientReliableStoreState>()
    /// The last outbox sequence handed out; starts at the store's.
    private let lastSequence = Atomic<UInt64>(0)

    init(configuration: ClientReliability) {
        var configuration = configuration
        configuration.window = max(1, configuration.window)
        configuration.deduplicationWindow = max(1, configuration.deduplicationWindow)
        self.configuration = configuration
    }

    var store: any ClientReliableStore { configuration.store }

    /// The store's state, opening the store on the first call.
    func opened() async throws -> ClientReliableStoreState {
        try await opening.value {
            let state = try await store.open()
            lastSequence.store(state.lastOutboxSequence, ordering: .relaxed)
            return state
        }
    }

    /// A sequence for a new outbox emit; call after ``opened()``.
    func nextSequence() -> UInt64 {
        lastSequence.wrappingAdd(1, ordering: .relaxed).newValue
    }
}
