import NIOCore
import NIOPosix

/// The run-time pieces every scenario shares.
enum BenchRuntime {
    /// Runs `body` with a fresh event-loop group of `threads` threads and shuts it down after.
    static func withEventLoopGroup<Result>(
        threads: Int,
        _ body: (MultiThreadedEventLoopGroup) async throws -> Result
    ) async throws -> Result {
        ProcessProbe.raiseOpenFileLimit()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        do {
            let result = try await body(group)
            try? await group.shutdownGracefully()  // best effort: the figures are already out
            return result
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// Prints `line(second)` to stderr every second until the returned task is cancelled.
    static func progress(on loop: any EventLoop, _ line: @escaping @Sendable (_ second: Int) -> String) -> RepeatedTask {
        let started = BenchClock.now()
        return loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            let second = Int((BenchClock.now() - started + 500_000_000) / 1_000_000_000)
            BenchLog.line(line(second))
        }
    }

    /// Sleeps until the instant `deadline` (monotonic nanoseconds).
    static func sleep(until deadline: UInt64) async throws {
        let now = BenchClock.now()
        if deadline > now { try await Task.sleep(nanoseconds: deadline - now) }
    }

    /// Waits until `done()` holds or `deadline` passes, checking every 10 ms.
    static func wait(until deadline: UInt64, for done: () -> Bool) async throws {
        while !done(), BenchClock.now() < deadline {
            try await Task.sleep(nanoseconds: 10_000_000)
        }
    }
}
