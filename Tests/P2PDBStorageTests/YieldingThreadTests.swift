import Foundation
import Synchronization
import Testing

@testable import P2PDBStorage

#if canImport(Glibc)
import Glibc
#endif

/// The threads client queries run on: in order, at the process's priority
/// until a job runs long, then yielding for that job alone, and refusing
/// work once stopped.
@Suite("Yielding threads")
struct YieldingThreadTests {
    /// The calling thread's nice value (0 where threads have none of their own).
    private static func niceness() -> Int32 {
        #if os(Linux)
        return getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        #else
        return 0
        #endif
    }

    private static func niceness(on thread: YieldingThread) async -> Int32 {
        await withCheckedContinuation { continuation in
            _ = thread.run { continuation.resume(returning: niceness()) }
        }
    }

    @Test func jobsRunInOrderAtTheProcesssPriorityAndNotAfterStop() async throws {
        let process = Self.niceness()
        let beforeAnyJob = ContinuousClock.now
        let thread = YieldingThread(name: "p2pdb.test")
        let order = Mutex<[Int]>([])
        for index in 0..<100 { #expect(thread.run { order.withLock { $0.append(index) } }) }
        #expect(await Self.niceness(on: thread) == process)
        #expect(order.withLock { $0 } == Array(0..<100))
        // No job started before the cutoff: asking it to yield changes nothing.
        #expect(!thread.yieldIfRunning(since: beforeAnyJob))
        thread.stop()
        #expect(!thread.run { Issue.record("a job ran on a stopped thread") })
    }

    @Test func aLongJobYieldsAndTheNextRunsAtTheProcesssPriorityInOrder() async throws {
        let process = Self.niceness()
        let thread = YieldingThread(name: "p2pdb.test")
        defer { thread.stop() }
        let release = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        let seen = Mutex<[String]>([])
        let longJob: Int32 = try await withCheckedThrowingContinuation { continuation in
            _ = thread.run {
                started.signal()
                release.wait()
                seen.withLock { $0.append("long") }
                continuation.resume(returning: Self.niceness())
            }
            for index in 0..<20 { _ = thread.run { seen.withLock { $0.append("\(index)") } } }
            started.wait()
            // Too soon: the job started after the cutoff.
            #expect(!thread.yieldIfRunning(since: .now - .seconds(60)))
            #expect(thread.yieldIfRunning(since: .now + .seconds(1)))
            // Once is enough: the job already yielded.
            #expect(!thread.yieldIfRunning(since: .now + .seconds(1)))
            release.signal()
        }
        #if os(Linux)
        #expect(longJob == min(19, process + YieldingThread.niceness))
        #endif
        // Its successor takes the queued jobs, in order, at the process's priority.
        #expect(await Self.niceness(on: thread) == process)
        #expect(seen.withLock { $0 } == ["long"] + (0..<20).map(String.init))
        #expect(Self.niceness() == process)
    }

    @Test func theStatementWatchdogMakesALongJobYield() async throws {
        let process = Self.niceness()
        let watchdog = StatementWatchdog(limits: StatementLimits())
        let thread = YieldingThread(name: "p2pdb.test")
        defer { thread.stop() }
        watchdog.watch(thread)
        // The job runs until its priority changes (or 20 s pass).
        let yielded: Int32 = await withCheckedContinuation { continuation in
            _ = thread.run {
                let giveUp = ContinuousClock.now + .seconds(20)
                var niceness = Self.niceness()
                while niceness == process, ContinuousClock.now < giveUp {
                    Thread.sleep(forTimeInterval: 0.005)
                    niceness = Self.niceness()
                }
                continuation.resume(returning: niceness)
            }
        }
        #if os(Linux)
        #expect(yielded == min(19, process + YieldingThread.niceness))
        #endif
        #expect(await Self.niceness(on: thread) == process)
        withExtendedLifetime(watchdog) {}
    }
}
