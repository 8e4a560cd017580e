import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A thread of its own that runs jobs one at a time, in order, at a lower
/// scheduling priority than the rest of the process.
///
/// Client queries run here. Slow ones, as many as there are read
/// connections, can keep every core busy; at a lower priority they still
/// get all the CPU nobody else wants, but the threads that answer
/// `/healthz`, replicate and write are scheduled first when they wake.
/// (A dispatch queue would not do: its threads are shared and cannot be
/// given a priority of their own.)
///
/// ```swift
/// let thread = YieldingThread(name: "p2pdb.reader.0")
/// _ = thread.run { print("on the reader thread") }
/// thread.stop()
/// ```
final class YieldingThread: Sendable {
    /// How much less the kernel favours the thread: its nice value is the
    /// process's plus 10, which gets about a tenth of the CPU time of a
    /// thread at the process's value when both want it.
    static let niceness: Int32 = 10

    private let jobs = Mutex<[@Sendable () -> Void]>([])
    private let ready = DispatchSemaphore(value: 0)
    private let stopped = Atomic<Bool>(false)

    init(name: String) {
        let thread = Thread { [self] in
            #if os(Linux)
            // On Linux the nice value belongs to the thread, not the process:
            // `who` 0 is this thread alone.
            let which = __priority_which_t(PRIO_PROCESS.rawValue)
            let inherited = getpriority(which, 0)
            _ = setpriority(which, 0, min(19, inherited + Self.niceness))
            #endif
            while true {
                ready.wait()
                guard let job = jobs.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { return }
                job()
            }
        }
        thread.name = name
        thread.start()
    }

    /// Queues `job`, to run after the jobs queued before it; false (and
    /// `job` never runs) once the thread is stopped.
    func run(_ job: @escaping @Sendable () -> Void) -> Bool {
        guard !stopped.load(ordering: .relaxed) else { return false }
        jobs.withLock { $0.append(job) }
        ready.signal()
        return true
    }

    /// Ends the thread once the jobs already queued have run.
    func stop() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        ready.signal()
    }
}
