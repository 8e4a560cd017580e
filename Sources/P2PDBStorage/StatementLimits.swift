import CSQLiteExtras
import Foundation
import GRDB
import GRDBSQLite
import P2PDBCore
import Synchronization

/// How much client requests may cost: how long one may run, how much it
/// may return, and how many run or wait at once. A runaway query (a
/// recursive CTE without end, a cross join of large tables) would otherwise
/// hold a reader, or the only writer, forever, or exhaust memory; a flood
/// of them would take every thread.
public struct StatementLimits: Sendable, Equatable {
    /// How long one client request may run on a connection; nil for no limit.
    public var timeout: Duration?
    /// The most one request may return, in bytes as ``resultCost(ofRow:)``
    /// counts them: the values' own bytes and the memory each row and value
    /// takes besides, so that a stream of empty strings is bounded too.
    public var maximumResultBytes: Int
    /// Read connections, each on a thread of its own: how many reads run at
    /// once.
    public var readConnections: Int
    /// Reads that may wait for a connection; more are refused with
    /// ``P2PDBError/Kind/busy``.
    public var maximumWaitingReads: Int
    /// Client transactions that may wait for the writer; more are refused
    /// with ``P2PDBError/Kind/busy``.
    public var maximumWaitingWrites: Int
    /// The temporary disk one request may fill: sorts, transient indexes and
    /// subquery results that outgrow SQLite's page cache spill to temporary
    /// files, and a write past this fails the request with
    /// ``P2PDBError/Kind/limitExceeded``.
    public var maximumTemporaryBytes: Int

    public init(
        timeout: Duration? = .seconds(30), maximumResultBytes: Int = 64 << 20, readConnections: Int = 4,
        maximumWaitingReads: Int = 64, maximumWaitingWrites: Int = 1024, maximumTemporaryBytes: Int = 256 << 20
    ) {
        self.timeout = timeout
        self.maximumResultBytes = maximumResultBytes
        self.maximumTemporaryBytes = max(0, maximumTemporaryBytes)
        self.readConnections = max(1, readConnections)
        self.maximumWaitingReads = max(0, maximumWaitingReads)
        self.maximumWaitingWrites = max(0, maximumWaitingWrites)
    }

    /// What a row costs a result: its values' bytes, and what a row and each
    /// value take in memory besides.
    static func resultCost(ofRow row: [Value]) -> Int {
        row.reduce(64) { $0 + 24 + $1.storedSize }
    }

    func resultTooLarge() -> P2PDBError {
        P2PDBError(
            .limitExceeded,
            "the result is larger than \(maximumResultBytes >> 20) MiB (each row counts 64 bytes and each value 24 besides its own); add a LIMIT or fetch it in pages (WHERE key > ? ORDER BY key LIMIT n)")
    }
}

/// The deadline of the client request running on one connection. When the
/// request runs past it, the watchdog's thread marks it expired and calls
/// `sqlite3_interrupt`, which stops whatever the connection is doing at its
/// next check, and the connection's progress handler stops every statement
/// the request starts after that. A caller that gives up (``cancel()``)
/// stops it the same way.
///
/// One per connection; the lock makes arming, disarming and interrupting
/// exclusive, so an interrupt meant for one request never reaches the next.
final class StatementDeadline: Sendable {
    private enum Stop { case expired, cancelled }

    private struct Armed {
        var connection: UInt?
        /// When the running request started; nil while none runs.
        var started: ContinuousClock.Instant?
        /// Why the running request is being stopped; nil while it may go on.
        var stop: Stop?
        /// A cancellation that came before the request started.
        var cancelPending = false
    }

    private let watchdog: StatementWatchdog
    private let armed = Mutex(Armed())
    private let stopping = Atomic<Bool>(false)

    init(watchdog: StatementWatchdog) {
        self.watchdog = watchdog
        watchdog.watch(self)
    }

    /// Installs the progress handler on `connection` and names it as the
    /// one to interrupt; the deadline must outlive the connection.
    func install(on connection: OpaquePointer) {
        armed.withLock { $0.connection = UInt(bitPattern: connection) }
        let context = Unmanaged.passUnretained(self).toOpaque()
        sqlite3_progress_handler(
            connection, 4096,
            { context in
                guard let context else { return 0 }
                return Unmanaged<StatementDeadline>.fromOpaque(context).takeUnretainedValue().stopping.load(ordering: .relaxed) ? 1 : 0
            },
            context)
    }

    /// Runs one client request under the deadline and the temporary disk
    /// budget. A statement stopped by either fails with
    /// ``P2PDBError/Kind/limitExceeded``; one stopped by ``cancel()`` with
    /// ``P2PDBError/Kind/cancelled``.
    func run<T>(_ body: () throws -> T) throws -> T {
        let budget = p2pdb_temp_budget_begin(Int64(watchdog.temporaryBytes))
        let result = Result { try runWithinDeadline(body) }
        let budgetExhausted = p2pdb_temp_budget_end(budget) != 0
        if case .failure = result, budgetExhausted {
            throw P2PDBError(
                .limitExceeded,
                "the request needed more than \(watchdog.temporaryBytes >> 20) MiB of temporary disk (for sorting, DISTINCT, GROUP BY or subquery results) and was stopped; narrow it (WHERE, LIMIT) or add an index that gives the order")
        }
        return try result.get()
    }

    /// Stops the request running on the connection, or the next one to
    /// start if none runs yet; ``clearCancellation()`` forgets it.
    func cancel() {
        armed.withLock { armed in
            guard armed.started != nil else {
                armed.cancelPending = true
                return
            }
            interrupt(&armed, .cancelled)
        }
    }

    /// Forgets a cancellation that no request took up.
    func clearCancellation() {
        armed.withLock { $0.cancelPending = false }
    }

    /// Stops the running request if it started before `cutoff`; whether a
    /// request runs. Called by the watchdog's thread.
    fileprivate func expire(ifStartedBefore cutoff: ContinuousClock.Instant) -> Bool {
        armed.withLock { armed in
            guard let started = armed.started else { return false }
            if started < cutoff { interrupt(&armed, .expired) }
            return true
        }
    }

    private func runWithinDeadline<T>(_ body: () throws -> T) throws -> T {
        let started = ContinuousClock.now
        let admitted: Bool = armed.withLock { armed in
            guard !armed.cancelPending else { return false }
            armed.started = started
            return true
        }
        guard admitted else { throw Self.cancelled }
        watchdog.requestStarted()
        let stop: () -> Stop? = { [self] in armed.withLock { $0.stop } }
        defer {
            armed.withLock { armed in
                armed.started = nil
                armed.stop = nil
                stopping.store(false, ordering: .relaxed)
            }
        }
        do {
            return try body()
        } catch let error as DatabaseError where error.resultCode == .SQLITE_INTERRUPT {
            switch stop() {
            case .expired?:
                throw P2PDBError(
                    .limitExceeded,
                    "the request ran for longer than \(watchdog.timeout.map { "\($0)" } ?? "its limit") and was stopped; narrow it (WHERE, LIMIT, an index) or raise the statement timeout")
            case .cancelled?:
                throw Self.cancelled
            case nil:
                throw error
            }
        }
    }

    private static let cancelled = P2PDBError(.cancelled, "the request was cancelled and stopped; nothing it would have written was kept")

    private func interrupt(_ armed: inout Armed, _ reason: Stop) {
        guard armed.stop == nil, let connection = armed.connection, let handle = OpaquePointer(bitPattern: connection) else { return }
        armed.stop = reason
        stopping.store(true, ordering: .relaxed)
        sqlite3_interrupt(handle)
    }
}

/// The thread that stops client statements past their deadline (see
/// ``StatementDeadline``), and the bounds it keeps; one per replica, shared
/// by its connections.
///
/// It looks at the running requests every ``tick`` rather than arming a
/// timer per request: a request then costs a clock reading, not a timer set
/// and cancelled (which took a tenth of a lone writer's time), and it stops
/// at most one tick past its timeout. With nothing running the thread
/// sleeps until a request starts (or a second passes), and it ends once the
/// replica's connections are gone. Without a timeout there is no thread.
final class StatementWatchdog: Sendable {
    let timeout: Duration?
    let temporaryBytes: Int
    /// How often the thread looks while requests run: a twentieth of the
    /// timeout, from 1 ms to 25 ms.
    let tick: Duration
    private let deadlines = Mutex<[WeakDeadline]>([])
    private let started = Atomic<Bool>(false)
    private let sleeping = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)

    private struct WeakDeadline: @unchecked Sendable {
        weak var deadline: StatementDeadline?
    }

    init(limits: StatementLimits) {
        timeout = limits.timeout
        temporaryBytes = limits.maximumTemporaryBytes
        tick = min(max((limits.timeout ?? .zero) / 20, .milliseconds(1)), .milliseconds(25))
    }

    fileprivate func watch(_ deadline: StatementDeadline) {
        guard let timeout else { return }
        deadlines.withLock { $0.append(WeakDeadline(deadline: deadline)) }
        if !started.exchange(true, ordering: .relaxed) { startThread(timeout: timeout) }
    }

    /// Wakes the thread if it sleeps: a request has started.
    func requestStarted() {
        guard sleeping.load(ordering: .sequentiallyConsistent),
            sleeping.compareExchange(expected: true, desired: false, ordering: .sequentiallyConsistent).exchanged
        else { return }
        wake.signal()
    }

    private func startThread(timeout: Duration) {
        let (tick, wake) = (self.tick / .seconds(1), self.wake)
        let thread = Thread { [weak self] in
            while true {
                Thread.sleep(forTimeInterval: tick)
                // The watchdog goes with its replica's connections.
                guard let watchdog = self else { return }
                // Marked asleep before looking: a request that starts after
                // the look sees the mark and wakes the thread.
                watchdog.sleeping.store(true, ordering: .sequentiallyConsistent)
                let running = watchdog.expireOverdue(cutoff: ContinuousClock.now - timeout)
                if !running { _ = wake.wait(timeout: .now() + 1) }
                watchdog.sleeping.store(false, ordering: .sequentiallyConsistent)
            }
        }
        thread.name = "p2pdb.statement-watchdog"
        thread.start()
    }

    /// Stops the requests that started before `cutoff`; whether any runs.
    private func expireOverdue(cutoff: ContinuousClock.Instant) -> Bool {
        let live = deadlines.withLock { deadlines in
            deadlines.removeAll { $0.deadline == nil }
            return deadlines.compactMap(\.deadline)
        }
        return live.reduce(false) { running, deadline in deadline.expire(ifStartedBefore: cutoff) || running }
    }
}
