import Foundation
import Synchronization
import Testing

@testable import P2PDBStorage

#if canImport(Glibc)
import Glibc
#endif

/// The threads client queries run on: in order, at a lower priority, and
/// refusing work once stopped.
@Suite("Yielding threads")
struct YieldingThreadTests {
    @Test func jobsRunInOrderAtALowerPriorityAndNotAfterStop() async throws {
        #if os(Linux)
        let process = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        #endif
        let thread = YieldingThread(name: "p2pdb.test")
        let order = Mutex<[Int]>([])
        for index in 0..<100 { #expect(thread.run { order.withLock { $0.append(index) } }) }
        let niceness: Int32 = await withCheckedContinuation { continuation in
            _ = thread.run {
                #if os(Linux)
                continuation.resume(returning: getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0))
                #else
                continuation.resume(returning: 0)
                #endif
            }
        }
        #if os(Linux)
        #expect(niceness == min(19, process + YieldingThread.niceness))
        // The rest of the process keeps its priority.
        #expect(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) == process)
        #endif
        #expect(order.withLock { $0 } == Array(0..<100))
        thread.stop()
        #expect(!thread.run { Issue.record("a job ran on a stopped thread") })
    }
}
