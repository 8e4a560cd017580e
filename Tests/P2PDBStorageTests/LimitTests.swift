import GRDB
import GRDBSQLite
import P2PDBCore
@testable import P2PDBStorage
import Synchronization
import Testing

/// A runaway statement is stopped with a clear error; it neither holds a
/// connection nor the writer, and takes nothing else down with it.
@Suite("Statement limits")
struct LimitTests {
    static let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"

    @Test func anEndlessQueryIsStoppedAndTheReadersStillServe() async throws {
        let replica = try TestReplica(limits: StatementLimits(timeout: .milliseconds(200)))
        try await replica.sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        // More endless queries than reader connections: none may stay stuck.
        for _ in 0..<6 {
            await #expect {
                try await replica.rows(Self.endless)
            } throws: { error in
                (error as? P2PDBError)?.kind == .limitExceeded && "\(error)".contains("stopped")
            }
        }
        #expect(try await replica.rows("SELECT count(*) FROM t") == [[0]])
        let session = try replica.store.reading { reader in
            (try? reader.query(SQLRequest(Self.endless))) == nil
        }
        #expect(session)
    }

    /// A caller that gives up (its task cancelled, as Ctrl-C in the shell
    /// does) stops its query, with or without a statement timeout, and the
    /// cancellation reaches no later request on the connection.
    @Test(.timeLimit(.minutes(1)), arguments: [nil, Duration.seconds(60)])
    func aCancelledQueryStopsAndTheNextOneRuns(timeout: Duration?) async throws {
        let replica = try TestReplica(limits: StatementLimits(timeout: timeout, readConnections: 1))
        try await replica.sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        for delay in [0, 5, 50, 200] {
            let query = Task { try await replica.rows(Self.endless) }
            try await Task.sleep(for: .milliseconds(delay))
            query.cancel()
            await #expect("after \(delay) ms") {
                try await query.value
            } throws: { error in
                (error as? P2PDBError)?.kind == .cancelled
            }
            // One reader connection: the next query runs on the same one.
            #expect(try await replica.rows("SELECT count(*) FROM t") == [[0]], "after \(delay) ms")
        }
    }

    @Test func anEndlessWriteFailsAloneAndOtherWritersCommit() async throws {
        let replica = try TestReplica(limits: StatementLimits(timeout: .seconds(3)))
        try await replica.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        let before = replica.store.summary.entryCount
        // Concurrent writers commit on the writer queue, so the endless
        // write and the others can share a batch: SQLite then rolls back the
        // whole batch when it stops the endless one.
        let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<40 {
                group.addTask {
                    if index == 0 {
                        try await replica.sql(
                            "INSERT INTO t VALUES (0, 'slow'); SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) SELECT x FROM c)")
                        return true
                    }
                    if index == 5 {
                        do {
                            try await replica.sql(
                                "INSERT INTO t SELECT x, 'x' FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c)")
                            return false
                        } catch let error as P2PDBError {
                            return error.kind == .limitExceeded
                        }
                    }
                    try await replica.sql("INSERT INTO t VALUES (?, 'ok')", [.integer(Int64(-1 - index))])
                    return true
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.count == 40 && outcomes.allSatisfy { $0 })
        #expect(try await replica.rows("SELECT count(*) FROM t") == [[39]])
        #expect(replica.store.summary.entryCount == before + 39)
        #expect(try await replica.store.verify().isValid)
    }

    @Test func aResultOverTheLimitIsRefused() async throws {
        let replica = try TestReplica(limits: StatementLimits(maximumResultBytes: 10_000))
        try await replica.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        try await replica.sql("INSERT INTO t WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200) SELECT x, printf('%0100d', x) FROM c")
        #expect(try await replica.rows("SELECT * FROM t LIMIT 10").count == 10)
        await #expect {
            try await replica.rows("SELECT * FROM t")
        } throws: { error in
            (error as? P2PDBError)?.kind == .limitExceeded && "\(error)".contains("LIMIT")
        }
        await #expect(throws: P2PDBError.self) { try await replica.rows("SELECT zeroblob(200000000)") }
    }

    @Test func aTransactionChangingTooManyRowsIsRefusedAndChangesNothing() async throws {
        let replica = try TestReplica(maximumEntryBytes: 4096)
        try await replica.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        let before = replica.store.summary
        await #expect {
            try await replica.sql("INSERT INTO t WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000) SELECT x, printf('%0100d', x) FROM c")
        } throws: { error in
            (error as? P2PDBError)?.kind == .limitExceeded && "\(error)".contains("split")
        }
        #expect(replica.store.summary == before)
        #expect(try await replica.rows("SELECT count(*) FROM t") == [[0]])
    }

    @Test func anEndlessStreamOfEmptyValuesStopsAtTheResultLimit() async throws {
        // Empty strings weigh nothing by their bytes; rows and values count
        // what they take in memory.
        let replica = try TestReplica(limits: StatementLimits(timeout: .seconds(60), maximumResultBytes: 1 << 20))
        for select in ["''", "NULL", "x''", "'', '', ''"] {
            await #expect {
                try await replica.rows("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT \(select) FROM c")
            } throws: { error in
                (error as? P2PDBError)?.kind == .limitExceeded && "\(error)".contains("result is larger")
            }
        }
    }

    @Test func aRequestSpillingPastItsTemporaryDiskIsStoppedAndChangesNothing() async throws {
        // 40 MB of sort records outgrow the page cache and spill to
        // temporary files; 4 MiB of them are allowed.
        let limits = StatementLimits(timeout: .seconds(60), maximumTemporaryBytes: 4 << 20)
        let replica = try TestReplica(limits: limits)
        try await replica.sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        let entries = replica.store.summary
        let rows = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) SELECT x FROM c"
        let spilling = [
            "\(rows) ORDER BY randomblob(200)",
            "SELECT count(*) FROM (SELECT randomblob(200) AS b FROM (\(rows)) GROUP BY b)",
        ]
        let requests: [(String, Bool)] = spilling.map { ($0, false) } + [("INSERT INTO t \(rows) ORDER BY randomblob(200)", true)]
        for (sql, writes) in requests {
            // Twice: what the first charged is given back when it ends.
            for _ in 0..<2 {
                await #expect {
                    if writes { try await replica.sql(sql) } else { _ = try await replica.rows(sql) }
                } throws: { error in
                    (error as? P2PDBError)?.kind == .limitExceeded && "\(error)".contains("temporary disk")
                }
            }
        }
        #expect(replica.store.summary == entries)
        #expect(try await replica.rows("SELECT count(*) FROM t") == [[0]])
        // Within the budget, the same requests run.
        let roomy = try TestReplica(limits: StatementLimits(timeout: .seconds(60), maximumTemporaryBytes: 256 << 20))
        #expect(try await roomy.rows(spilling[0]).count == 200_000)
        #expect(try await roomy.rows(spilling[1]) == [[200_000]])
    }

    @Test func slowReadsWaitInABoundedLineWhileWritesCommit() async throws {
        let replica = try TestReplica(
            limits: StatementLimits(timeout: .seconds(3), readConnections: 1, maximumWaitingReads: 1))
        try await replica.sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        final class Counter: Sendable { let value = Atomic<Int>(0) }
        let slowReadsDone = Counter()
        let outcomes = try await withThrowingTaskGroup(of: P2PDBError.Kind?.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    defer { slowReadsDone.value.add(1, ordering: .relaxed) }
                    do {
                        _ = try await replica.rows(Self.endless)
                        return nil
                    } catch let error as P2PDBError {
                        return error.kind
                    }
                }
            }
            // The one read connection is taken and the line is full, yet a
            // write commits, on the writer's own thread, before any slow
            // read ends.
            try await Task.sleep(for: .milliseconds(300))
            try await replica.sql("INSERT INTO t VALUES (1)")
            #expect(slowReadsDone.value.load(ordering: .relaxed) <= 1)
            return try await group.reduce(into: [P2PDBError.Kind?]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 == .busy }.count == 1)
        #expect(outcomes.filter { $0 == .limitExceeded }.count == 2)
        #expect(try await replica.rows("SELECT count(*) FROM t") == [[1]])
    }

    @Test func clientStatementsKeptPerConnectionAreBounded() throws {
        let database = try DatabaseQueue()
        let cache = ClientStatementCache()
        try database.inDatabase { db in
            for index in 0..<1000 { _ = try cache.statement("SELECT \(index)", db) }
            _ = try cache.statement("SELECT '\(String(repeating: "x", count: ClientStatementCache.maximumTextBytes))'", db)
            var prepared = 0
            var statement = sqlite3_next_stmt(db.sqliteConnection, nil)
            while statement != nil {
                prepared += 1
                statement = sqlite3_next_stmt(db.sqliteConnection, statement)
            }
            #expect(prepared <= ClientStatementCache.capacity)
            // The most recent text is still kept: the same statement object.
            let again = try cache.statement("SELECT 999", db)
            #expect(try cache.statement("SELECT 999", db) === again)
        }
    }
}
