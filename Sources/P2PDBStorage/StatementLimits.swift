import Dispatch
import GRDB
import GRDBSQLite
import P2PDBCore
import Synchronization

/// How much one client statement may cost: how long it may run and how many
/// bytes of rows it may return. A runaway query (a recursive CTE without
/// end, a cross join of large tables) would otherwise hold a reader, or the
/// only writer, forever, or exhaust memory.
public struct StatementLimits: Sendable, Equatable {
    /// How long one client request may run on a connection; nil for no limit.
    public var timeout: Duration?
    /// The most bytes of values one request may return.
    public var maximumResultBytes: Int

    public init(timeout: Duration? = .seconds(30), maximumResultBytes: Int = 64 << 20) {
        self.timeout = timeout
        self.maximumResultBytes = maximumResultBytes
    }

    func resultTooLarge() -> P2PDBError {
        P2PDBError(
            .limitExceeded,
            "the result is larger than \(maximumResultBytes >> 20) MiB; add a LIMIT or fetch it in pages (WHERE key > ? ORDER BY key LIMIT n)")
    }
}

/// The deadline of the client request running on one connection, enforced
/// through SQLite's progress handler: SQLite calls it every few thousand
/// virtual-machine steps, and a request past its deadline is interrupted.
///
/// One per connection; the connection's serial use makes arming and
/// disarming race-free, the atomic keeps the handler's read well-defined.
final class StatementDeadline: Sendable {
    private let deadline = Atomic<UInt64>(0)
    private let timeout: Duration?

    init(timeout: Duration?) {
        self.timeout = timeout
    }

    /// Installs the progress handler on `connection`; the deadline must
    /// outlive it.
    func install(on connection: OpaquePointer) {
        let context = Unmanaged.passUnretained(self).toOpaque()
        sqlite3_progress_handler(
            connection, 4096,
            { context in
                guard let context else { return 0 }
                return Unmanaged<StatementDeadline>.fromOpaque(context).takeUnretainedValue().isPast ? 1 : 0
            },
            context)
    }

    private var isPast: Bool {
        let deadline = deadline.load(ordering: .relaxed)
        return deadline != 0 && DispatchTime.now().uptimeNanoseconds > deadline
    }

    /// Runs one client request under the deadline. A statement stopped by
    /// it fails with ``P2PDBError/Kind/limitExceeded``.
    func run<T>(_ body: () throws -> T) throws -> T {
        guard let timeout else { return try body() }
        let (seconds, attoseconds) = timeout.components
        let nanoseconds = UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
        deadline.store(DispatchTime.now().uptimeNanoseconds + nanoseconds, ordering: .relaxed)
        defer { deadline.store(0, ordering: .relaxed) }
        do {
            return try body()
        } catch let error as DatabaseError where error.resultCode == .SQLITE_INTERRUPT && isPast {
            throw P2PDBError(
                .limitExceeded,
                "the request ran for longer than \(timeout) and was stopped; narrow it (WHERE, LIMIT, an index) or raise the statement timeout")
        }
    }
}
