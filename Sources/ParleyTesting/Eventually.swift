/// Waits until `condition` holds, checking every 10 ms, for at most `timeout`.
///
/// For conditions that no event announces (an object freed, a count that drops); anything
/// that has an event is awaited through ``AsyncInbox`` instead.
/// - Returns: whether the condition held in time.
public func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while !condition() {
        guard clock.now < deadline else { return false }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return true
}

/// A weak reference, to observe that an object is freed.
/// Whether the async `condition` comes to hold within `timeout`, checked every 10 ms (a
/// condition that throws counts as not holding).
public func eventuallyAsync(timeout: Duration = .seconds(5), _ condition: () async throws -> Bool) async -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return (try? await condition()) == true
}

public struct Weak<Object: AnyObject>: @unchecked Sendable {
    // @unchecked: only read to test for nil, from the test's own task.
    public weak var object: Object?

    public init(_ object: Object?) {
        self.object = object
    }
}
