import P2PDBCore
import P2PDBStorage
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
}
