import GRDB
import Synchronization

/// Read-only connections for one-off queries, taken in turn.
///
/// GRDB's pool lends a reader for each read through a semaphore and a
/// dispatch queue, which costs more than a point query on a busy machine.
/// These connections are fixed; each serialises its own callers, and with
/// more connections than cores callers rarely wait for one another.
final class ReaderConnections: Sendable {
    private let queues: [DatabaseQueue]
    private let deadlines: [StatementDeadline]
    private let authorizers: [ClientAuthorizer]
    private let next = Atomic<Int>(0)

    init(path: String, count: Int, configuration: Configuration, timeout: Duration?) throws {
        var configuration = configuration
        configuration.readonly = true
        queues = try (0..<count).map { _ in try DatabaseQueue(path: path, configuration: configuration) }
        deadlines = (0..<count).map { _ in StatementDeadline(timeout: timeout) }
        authorizers = (0..<count).map { _ in ClientAuthorizer() }
        for index in queues.indices {
            queues[index].inDatabase { db in
                guard let connection = db.sqliteConnection else { return }
                deadlines[index].install(on: connection)
                authorizers[index].install(on: connection)
            }
        }
    }

    /// Runs `body` on the next connection, outside any explicit transaction;
    /// `body` runs client requests through the connection's deadline.
    func read<T>(_ body: (Database, StatementDeadline) throws -> T) throws -> T {
        let index = Int(UInt(bitPattern: next.wrappingAdd(1, ordering: .relaxed).oldValue) % UInt(queues.count))
        let deadline = deadlines[index]
        return try queues[index].unsafeRead { db in try body(db, deadline) }
    }

    func close() throws {
        for queue in queues { try queue.close() }
    }
}
