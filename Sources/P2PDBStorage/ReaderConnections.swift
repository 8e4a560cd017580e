import GRDB
import P2PDBCore
import Synchronization

/// The read-only connections client queries run on, each on a thread of
/// its own at a lower priority (``YieldingThread``).
///
/// A query never runs on the caller's thread: on Swift's cooperative pool
/// (one thread per core) two slow queries would stop every other task of
/// the process, the HTTP server's `/healthz` included. A caller takes an
/// idle connection, or waits in a bounded line for one; past that line it
/// is told to come back later (``P2PDBError/Kind/busy``), so a flood of slow
/// queries costs at most `count` threads and a known number of waiters.
final class ReaderConnections: Sendable {
    private struct Connection: Sendable {
        let database: DatabaseQueue
        let deadline: StatementDeadline
        let authorizer: ClientAuthorizer
        let thread: YieldingThread
    }

    private struct Lending {
        var idle: [Int]
        var waiting: [CheckedContinuation<Int, any Error>] = []
    }

    private let connections: [Connection]
    private let lending: Mutex<Lending>
    private let maximumWaiting: Int
    private let next = Atomic<Int>(0)

    init(path: String, count: Int, maximumWaiting: Int, configuration: Configuration, watchdog: StatementWatchdog) throws {
        var configuration = configuration
        configuration.readonly = true
        connections = try (0..<count).map { index in
            let database = try DatabaseQueue(path: path, configuration: configuration)
            let connection = Connection(
                database: database, deadline: StatementDeadline(watchdog: watchdog), authorizer: ClientAuthorizer(),
                thread: YieldingThread(name: "p2pdb.reader.\(index)"))
            database.inDatabase { db in
                guard let handle = db.sqliteConnection else { return }
                connection.deadline.install(on: handle)
                connection.authorizer.install(on: handle)
            }
            return connection
        }
        lending = Mutex(Lending(idle: Array(connections.indices)))
        self.maximumWaiting = maximumWaiting
    }

    /// Runs `body` on an idle connection's thread, outside any explicit
    /// transaction; `body` runs client requests through the connection's
    /// deadline.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database, StatementDeadline) throws -> T) async throws -> T {
        let index = try await borrow()
        defer { giveBack(index) }
        let connection = connections[index]
        defer { connection.deadline.clearCancellation() }
        // A caller that gives up stops its statement rather than leaving it to run.
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let queued = connection.thread.run {
                    continuation.resume(with: Result(catching: { try connection.database.unsafeRead { db in try body(db, connection.deadline) } }))
                }
                if !queued { continuation.resume(throwing: P2PDBError(.unavailable, "the replica is closed")) }
            }
        } onCancel: {
            connection.deadline.cancel()
        }
    }

    /// Runs `body` on the calling thread, blocking it, on the next
    /// connection in turn: for callers that are not async (benchmarks,
    /// tools), never for the server.
    func readBlocking<T>(_ body: (Database, StatementDeadline) throws -> T) throws -> T {
        let index = Int(UInt(bitPattern: next.wrappingAdd(1, ordering: .relaxed).oldValue) % UInt(connections.count))
        let connection = connections[index]
        return try connection.database.unsafeRead { db in try body(db, connection.deadline) }
    }

    private func borrow() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            enum Decision { case lend(Int), wait, refuse }
            let decision: Decision = lending.withLock { lending in
                if let index = lending.idle.popLast() { return .lend(index) }
                guard lending.waiting.count < maximumWaiting else { return .refuse }
                lending.waiting.append(continuation)
                return .wait
            }
            switch decision {
            case .lend(let index): continuation.resume(returning: index)
            case .wait: break
            case .refuse: continuation.resume(throwing: Self.busy(connections.count, maximumWaiting))
            }
        }
    }

    private func giveBack(_ index: Int) {
        let waiter: CheckedContinuation<Int, any Error>? = lending.withLock { lending in
            guard !lending.waiting.isEmpty else {
                lending.idle.append(index)
                return nil
            }
            return lending.waiting.removeFirst()
        }
        waiter?.resume(returning: index)
    }

    static func busy(_ count: Int, _ waiting: Int) -> P2PDBError {
        P2PDBError(
            .busy,
            "all \(count) read connections are busy and \(waiting) reads are already waiting; retry shortly, or make slow queries faster (WHERE, LIMIT, an index)")
    }

    func close() throws {
        for connection in connections {
            connection.database.inDatabase { _ in connection.authorizer.statements.clear() }
            try connection.database.close()
            connection.thread.stop()
        }
    }
}
