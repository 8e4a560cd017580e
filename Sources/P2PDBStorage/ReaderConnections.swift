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
    private let next = Atomic<Int>(0)

    init(path: String, count: Int, configuration: Configuration) throws {
        var configuration = configuration
        configuration.readonly = true
        queues = try (0..<count).map { _ in try DatabaseQueue(path: path, configuration: configuration) }
    }

    /// Runs `body` on the next connection, outside any explicit transaction.
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
        return try queues[Int(UInt(bitPattern: index) % UInt(queues.count))].unsafeRead(body)
    }

    func close() throws {
        for queue in queues { try queue.close() }
    }
}
