import NIOConcurrencyHelpers
import NIOCore

/// A client store that lives as long as the process: for tests, and for apps that need the
/// client's de-duplication and ordering but not its survival of a restart.
///
/// Opening it again (a new `SocketManager` on the same instance) keeps everything, like a file
/// would.
public final class InMemoryClientReliableStore: ClientReliableStore {
    private struct State {
        var deviceID: String?
        var isOpen = false
        var lastSequence: UInt64 = 0
        /// Sorted by sequence.
        var outbox: [ClientOutboxItem] = []
        var received: [String: ReceivedWindow] = [:]
        var positions: [String: [String: String]] = [:]
    }

    /// The newest ids of one namespace, oldest first.
    private struct ReceivedWindow {
        var order = CircularBuffer<String>()
        var ids: Set<String> = []
    }

    private let state = NIOLockedValueBox(State())

    /// Creates an empty store.
    public init() {}

    public func open() async throws -> ClientReliableStoreState {
        state.withLockedValue { state in
            let deviceID = state.deviceID ?? ClientReliableStoreState.makeDeviceID()
            state.deviceID = deviceID
            state.isOpen = true
            return ClientReliableStoreState(deviceID: deviceID, lastOutboxSequence: state.lastSequence)
        }
    }

    public func addToOutbox(_ item: ClientOutboxItem) async throws {
        try withOpenState("addToOutbox") { state in
            guard !state.outbox.contains(where: { $0.key == item.key }) else { return }
            state.lastSequence = max(state.lastSequence, item.sequence)
            let index = state.outbox.lastIndex { $0.sequence < item.sequence }.map { $0 + 1 } ?? 0
            state.outbox.insert(item, at: index)
        }
    }

    public func removeFromOutbox(key: String) async throws {
        try withOpenState("removeFromOutbox") { state in state.outbox.removeAll { $0.key == key } }
    }

    public func outbox(namespace: String) async throws -> [ClientOutboxItem] {
        try withOpenState("outbox") { state in state.outbox.filter { $0.namespace == namespace } }
    }

    public func recordReceived(_ id: String, namespace: String, keeping: Int) async throws -> Bool {
        try withOpenState("recordReceived") { state in
            var window = state.received[namespace] ?? ReceivedWindow()
            defer { state.received[namespace] = window }
            guard window.ids.insert(id).inserted else { return false }
            window.order.append(id)
            while window.order.count > max(keeping, 0), let oldest = window.order.popFirst() {
                window.ids.remove(oldest)
            }
            return true
        }
    }

    public func hasReceived(_ id: String, namespace: String) async throws -> Bool {
        try withOpenState("hasReceived") { state in state.received[namespace]?.ids.contains(id) ?? false }
    }

    public func roomPosition(namespace: String, room: String) async throws -> String? {
        try withOpenState("roomPosition") { state in state.positions[namespace]?[room] }
    }

    public func setRoomPosition(_ offset: String, namespace: String, room: String) async throws {
        try withOpenState("setRoomPosition") { state in state.positions[namespace, default: [:]][room] = offset }
    }

    /// Closes the store; its contents stay for the next ``open()``.
    public func close() async throws {
        state.withLockedValue { $0.isOpen = false }
    }

    private func withOpenState<T>(_ operation: String, _ body: (inout State) throws -> T) throws -> T {
        try state.withLockedValue { state in
            guard state.isOpen else { throw StoreError(.notOpen, detail: "\(operation) before open or after close") }
            return try body(&state)
        }
    }
}
