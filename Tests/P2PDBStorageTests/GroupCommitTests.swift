import Dispatch
import P2PDBCore
import P2PDBStorage
import Synchronization
import Testing

@Suite("Group commit")
struct GroupCommitTests {
    /// Writers that arrive while the writer is busy share the next commit
    /// (the change feed hands out one array per commit), and each still
    /// gets its own entry.
    @Test func writersQueuedBehindABusyWriterShareACommit() async throws {
        let replica = try TestReplica(durability: .full)
        try await replica.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        let writers = 32
        let commits = replica.store.changeBatches()
        let started = StartFlag()
        // Threads of their own: the shared pool may be busy with other
        // tests, and a lone writer commits on its caller's thread.
        let threads = ThreadExecutor()
        let entries = try await withThrowingTaskGroup(of: EntryID?.self) { group in
            // A slow transaction (seconds of work) holds the writer.
            group.addTask(executorPreference: threads) {
                started.value.store(true, ordering: .releasing)
                return try await replica.sql(
                    "INSERT INTO t VALUES (-1, 'slow'); SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000000) SELECT x FROM c)"
                ).entry
            }
            for index in 0..<writers {
                group.addTask(executorPreference: threads) {
                    while !started.value.load(ordering: .acquiring) { await Task.yield() }
                    // Long enough for the slow one to reach SQLite on a
                    // loaded machine, well inside its seconds of work.
                    try await Task.sleep(for: .milliseconds(300))
                    return try await replica.sql("INSERT INTO t VALUES (?, 'x')", [.integer(Int64(index))]).entry
                }
            }
            return try await group.reduce(into: [EntryID]()) { if let entry = $1 { $0.append(entry) } }
        }
        #expect(Set(entries).count == writers + 1)
        var committed: [[AppliedEntry]] = []
        var seen = 0
        for await batch in commits {
            committed.append(batch)
            seen += batch.count
            if seen >= writers + 1 { break }
        }
        #expect(Set(committed.flatMap { $0.map(\.entry.id) }) == Set(entries))
        #expect(committed.count < writers + 1, "every write paid for its own commit: \(committed.map(\.count))")
        #expect(try await replica.rows("SELECT count(*) FROM t") == [[.integer(Int64(writers + 1))]])
    }
}

final class StartFlag: Sendable {
    let value = Atomic<Bool>(false)
}

/// Runs tasks on a concurrent dispatch queue instead of the shared pool.
final class ThreadExecutor: TaskExecutor {
    private let queue = DispatchQueue(label: "p2pdb.test.writers", attributes: .concurrent)

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}
