import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A thread of its own that runs jobs one at a time, in order, and yields
/// to the rest of the process once a job has run for long.
///
/// Client queries run here. A job starts at the process's priority, so the
/// many short queries of a busy node run as fast as anything else; one that
/// is still running after ``patience`` has its thread's nice value raised
/// by ``niceness`` (about a tenth of the CPU time of a thread at the
/// process's value when both want it). Slow queries, as many as there are
/// read connections, can then keep every core busy, yet the threads that
/// answer `/healthz`, replicate and write are scheduled first when they
/// wake. A nice value cannot be lowered again without privileges, so a
/// thread that yielded ends after its job and a successor, started at the
/// process's priority by the thread that made it yield, takes the next
/// jobs. (A dispatch queue would not do: its threads are shared and cannot
/// be given a priority of their own.)
///
/// ```swift
/// let thread = YieldingThread(name: "p2pdb.reader.0")
/// _ = thread.run { print("on the reader thread") }
/// thread.yieldIfRunning(since: .now - YieldingThread.patience)   // from a watchdog
/// thread.stop()
/// ```
final class YieldingThread: Sendable {
    /// How much less the kernel favours a thread that yielded.
    static let niceness: Int32 = 10
    /// How long a job runs before its thread yields.
    static let patience: Duration = .milliseconds(50)

    private struct Worker {
        /// Which thread may take jobs: each successor gets the next.
        var generation = 0
        /// The kernel's ID of that thread, once it has started.
        var threadID: Int32?
        /// When the job it runs now started; nil while it waits.
        var jobStarted: ContinuousClock.Instant?
        /// What the successor of a thread that yielded waits for: the end of its job.
        var handOff: DispatchSemaphore?
    }

    private let name: String
    private let jobs = Mutex<[@Sendable () -> Void]>([])
    private let ready = DispatchSemaphore(value: 0)
    private let stopped = Atomic<Bool>(false)
    private let worker = Mutex(Worker())

    init(name: String) {
        self.name = name
        startThread(generation: 0, after: nil)
    }

    private func startThread(generation: Int, after handOff: DispatchSemaphore?) {
        let thread = Thread { [self] in
            handOff?.wait()
            worker.withLock { if $0.generation == generation { $0.threadID = Self.currentThreadID() } }
            while true {
                ready.wait()
                guard let job = jobs.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { return }
                let started = ContinuousClock.now
                worker.withLock { $0.jobStarted = started }
                job()
                // A thread made to yield during its job leaves the rest to its successor.
                let successorWaiting: DispatchSemaphore? = worker.withLock { worker in
                    worker.jobStarted = nil
                    guard worker.generation != generation else { return nil }
                    defer { worker.handOff = nil }
                    return worker.handOff
                }
                if let successorWaiting {
                    successorWaiting.signal()
                    return
                }
            }
        }
        thread.name = name
        thread.start()
    }

    /// Whether a job runs now.
    var isBusy: Bool { worker.withLock { $0.jobStarted != nil } }

    /// Queues `job`, to run after the jobs queued before it; false (and
    /// `job` never runs) once the thread is stopped.
    func run(_ job: @escaping @Sendable () -> Void) -> Bool {
        guard !stopped.load(ordering: .relaxed) else { return false }
        jobs.withLock { $0.append(job) }
        ready.signal()
        return true
    }

    /// Makes the thread yield if its current job started before `cutoff`,
    /// and starts its successor, which takes the next job once this one
    /// ends, at the calling thread's priority: call it from a thread at the
    /// process's priority. True if it yielded.
    @discardableResult
    func yieldIfRunning(since cutoff: ContinuousClock.Instant) -> Bool {
        let handOff = DispatchSemaphore(value: 0)
        let successor: Int? = worker.withLock { worker in
            guard let started = worker.jobStarted, started < cutoff, let threadID = worker.threadID else { return nil }
            #if os(Linux)
            // On Linux a nice value belongs to a thread; `who` names it.
            let which = __priority_which_t(PRIO_PROCESS.rawValue)
            _ = setpriority(which, id_t(threadID), min(19, getpriority(which, id_t(threadID)) + Self.niceness))
            #endif
            worker.generation += 1
            worker.threadID = nil
            worker.jobStarted = nil
            worker.handOff = handOff
            return worker.generation
        }
        guard let successor else { return false }
        startThread(generation: successor, after: handOff)
        return true
    }

    /// Ends the thread once the jobs already queued have run.
    func stop() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        ready.signal()
    }

    /// The kernel's ID of the calling thread: the last part of the
    /// `/proc/thread-self` link (`PID/task/TID`); nil where there is none.
    private static func currentThreadID() -> Int32? {
        #if os(Linux)
        var target = [CChar](repeating: 0, count: 64)
        let length = readlink("/proc/thread-self", &target, target.count - 1)
        guard length > 0 else { return nil }
        return String(decoding: target[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self).split(separator: "/").last.flatMap { Int32($0) }
        #else
        return nil
        #endif
    }
}
