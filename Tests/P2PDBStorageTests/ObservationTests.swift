import Foundation
import P2PDB
import P2PDBCore
@testable import P2PDBStorage
import Synchronization
import Testing

/// Live queries: `observe` yields the current result, then a new one after
/// each commit (local or replicated) that changes a table the query reads,
/// and only then.
@Suite struct ObservationTests {
    /// Collects what a stream yields on a task of its own, so that a test
    /// can wait for a condition with a deadline.
    final class Collector<Element: Sendable>: Sendable {
        private let state = Mutex<(values: [Element], end: Result<Void, any Error>?)>(([], nil))
        private let task = Mutex<Task<Void, Never>?>(nil)

        static func start(_ stream: AsyncThrowingStream<Element, any Error>) -> Collector {
            let collector = Collector()
            let task = Task {
                do {
                    for try await value in stream { collector.state.withLock { $0.values.append(value) } }
                    collector.state.withLock { $0.end = .success(()) }
                } catch {
                    collector.state.withLock { $0.end = .failure(error) }
                }
            }
            collector.task.withLock { $0 = task }
            return collector
        }

        var values: [Element] { state.withLock { $0.values } }
        var end: Result<Void, any Error>? { state.withLock { $0.end } }

        func cancel() { task.withLock { $0 }?.cancel() }

        /// Waits until `condition` holds, up to `limit`.
        @discardableResult
        func wait(for limit: Duration = .seconds(20), until condition: @Sendable (Collector) -> Bool) async -> Bool {
            let deadline = ContinuousClock.now + limit
            while ContinuousClock.now < deadline {
                if condition(self) { return true }
                try? await Task.sleep(for: .milliseconds(5))
            }
            return condition(self)
        }
    }

    static func count(_ result: StatementResult) -> Int64? {
        guard case .integer(let count) = result.rows.first?.first else { return nil }
        return count
    }

    @Test func yieldsOnlyWhenATableItReadsChanges() async throws {
        let replica = try TestReplica()
        try await replica.sql("CREATE TABLE items(id TEXT PRIMARY KEY, stock INTEGER)")
        try await replica.sql("CREATE TABLE other(id TEXT PRIMARY KEY, x INTEGER)")
        let observed = Collector.start(replica.store.observe(SQLRequest("SELECT id, stock FROM items ORDER BY id")))
        #expect(await observed.wait { $0.values.count == 1 })
        #expect(observed.values.first?.rows == [])

        try await replica.sql("INSERT INTO other VALUES ('x', 1)")
        try await replica.sql("UPDATE other SET x = 2")
        try await Task.sleep(for: .milliseconds(300))
        #expect(observed.values.count == 1, "a write to another table yielded")

        try await replica.sql("INSERT INTO items VALUES ('apple', 3)")
        #expect(await observed.wait { $0.values.count == 2 })
        #expect(observed.values.last?.rows == [["apple", 3]])
        observed.cancel()
    }

    /// Tables read through a view, a subquery or `count(*)` count, and
    /// writes that leave the result as it was yield nothing (by default).
    @Test func tracksTablesReadThroughViewsAndSubqueries() async throws {
        let replica = try TestReplica()
        try await replica.sql("CREATE TABLE items(id TEXT PRIMARY KEY, stock INTEGER)")
        try await replica.sql("CREATE TABLE sales(id TEXT PRIMARY KEY, item TEXT, qty INTEGER)")
        try await replica.sql("CREATE TABLE other(id TEXT PRIMARY KEY)")
        try await replica.sql("CREATE VIEW sold AS SELECT item, sum(qty) AS qty FROM sales GROUP BY item")
        let view = Collector.start(replica.store.observe(SQLRequest("SELECT * FROM sold ORDER BY item")))
        let counted = Collector.start(replica.store.observe(SQLRequest("SELECT count(*) FROM items")))
        let nested = Collector.start(
            replica.store.observe(SQLRequest("SELECT id FROM items WHERE id IN (SELECT item FROM sales WHERE qty > ?)", [5])))
        let all = [view, counted, nested]
        for collector in all { #expect(await collector.wait { $0.values.count == 1 }) }

        try await replica.sql("INSERT INTO other VALUES ('x')")
        try await replica.sql("INSERT INTO sales VALUES ('s1', 'apple', 2)")
        #expect(await view.wait { $0.values.count == 2 })
        #expect(view.values.last?.rows == [["apple", 2]])
        try await replica.sql("INSERT INTO items VALUES ('apple', 1)")
        #expect(await counted.wait { $0.values.count == 2 })
        #expect(counted.values.last.flatMap(Self.count) == 1)
        try await replica.sql("INSERT INTO sales VALUES ('s2', 'apple', 9)")
        #expect(await nested.wait { $0.values.count == 2 })
        #expect(nested.values.last?.rows == [["apple"]])
        try await Task.sleep(for: .milliseconds(300))
        // The count read neither sales nor other; the subquery's result did
        // not change when the first sale (qty 2) came.
        #expect(counted.values.count == 2)
        #expect(nested.values.count == 2)
        for collector in all { collector.cancel() }
    }

    /// The tables SQLite reports reading, whichever way the query reaches them.
    @Test func tablesReadAreThoseSQLiteReports() async throws {
        let replica = try TestReplica()
        for table in ["a", "b", "c", "unread"] { try await replica.sql("CREATE TABLE \(table)(id INTEGER PRIMARY KEY, x INTEGER)") }
        try await replica.sql("CREATE VIEW ab AS SELECT a.id, b.x FROM a JOIN b ON a.id = b.id")
        let cases: [(String, Set<String>)] = [
            ("SELECT * FROM a", ["a"]),
            ("SELECT count(*) FROM A", ["a"]),
            ("SELECT 1 FROM b", ["b"]),
            ("SELECT EXISTS(SELECT 1 FROM c)", ["c"]),
            ("SELECT * FROM ab", ["a", "b"]),
            ("SELECT x FROM a WHERE id IN (SELECT id FROM c)", ["a", "c"]),
            ("WITH r AS (SELECT id FROM b) SELECT * FROM r JOIN c USING (id)", ["b", "c"]),
            ("SELECT 1", []),
        ]
        for (sql, expected) in cases {
            let (_, tables) = try await replica.store.readRecordingTables(SQLRequest(sql))
            // The names of views and CTEs show as well; the tables must.
            let read = Set(tables.map(\.text)).subtracting(["r", "ab"])
            #expect(read == expected, "\(sql)")
        }
    }

    /// With `removingDuplicates: false`, a write to a read table yields
    /// even when the result stays the same.
    @Test func duplicatesCanBeKept() async throws {
        let replica = try TestReplica()
        try await replica.sql("CREATE TABLE t(id INTEGER PRIMARY KEY, x INTEGER)")
        let observed = Collector.start(replica.store.observe(SQLRequest("SELECT count(*) FROM t WHERE x > 10"), removingDuplicates: false))
        #expect(await observed.wait { $0.values.count == 1 })
        try await replica.sql("INSERT INTO t VALUES (1, 1)")
        #expect(await observed.wait { $0.values.count == 2 })
        #expect(observed.values[0] == observed.values[1])
        observed.cancel()
    }

    /// A hundred writes at once yield far fewer results, and the last
    /// result is the final state.
    @Test func burstsCoalesce() async throws {
        let replica = try TestReplica()
        try await replica.sql("CREATE TABLE hits(id INTEGER PRIMARY KEY, n INTEGER)")
        let observed = Collector.start(replica.store.observe(SQLRequest("SELECT count(*) FROM hits")))
        #expect(await observed.wait { $0.values.count == 1 })
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<100 {
                group.addTask { try await replica.sql("INSERT INTO hits(id, n) VALUES (?, ?)", [.integer(Int64(index)), 1]) }
            }
            try await group.waitForAll()
        }
        await Self.expectCoalesced(observed)
    }

    /// The observation of a count reached 100 in far fewer than 100 results,
    /// each a later snapshot than the one before.
    static func expectCoalesced(_ observed: Collector<StatementResult>, sourceLocation: SourceLocation = #_sourceLocation) async {
        #expect(await observed.wait { $0.values.last.flatMap(Self.count) == 100 }, sourceLocation: sourceLocation)
        try? await Task.sleep(for: .milliseconds(200))
        let counts = observed.values.compactMap(Self.count)
        #expect(counts.last == 100, sourceLocation: sourceLocation)
        #expect(counts.count < 30, "100 commits yielded \(counts.count) results", sourceLocation: sourceLocation)
        #expect(counts == counts.sorted(), sourceLocation: sourceLocation)
        observed.cancel()
    }

    /// One commit after another, each waited for, while a slower query
    /// runs: the commits that land during a run make one more run, not one
    /// each.
    @Test func commitsDuringARunMakeOneMoreRun() async throws {
        let replica = try TestReplica()
        try await replica.sql("CREATE TABLE hits(id INTEGER PRIMARY KEY, n INTEGER)")
        // About a few milliseconds of work per run, whatever the table holds.
        let slow = """
            WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 30000)
            SELECT (SELECT count(*) FROM hits) + 0 * (SELECT count(*) FROM k)
            """
        let observed = Collector.start(replica.store.observe(SQLRequest(slow)))
        #expect(await observed.wait { $0.values.count == 1 })
        for index in 0..<100 {
            try await replica.sql("INSERT INTO hits(id, n) VALUES (?, 1)", [.integer(Int64(index))])
        }
        await Self.expectCoalesced(observed)
    }

    /// Entries from another replica trigger the observation like local
    /// writes do.
    @Test func replicatedWritesCount() async throws {
        let local = try TestReplica()
        let peer = try TestReplica()
        try await peer.sql("CREATE TABLE notes(id TEXT PRIMARY KEY, body TEXT)")
        try await peer.send(to: local)
        let observed = Collector.start(local.store.observe(SQLRequest("SELECT body FROM notes ORDER BY id")))
        #expect(await observed.wait { $0.values.count == 1 })
        try await peer.sql("INSERT INTO notes VALUES ('n1', 'from the peer')")
        try await peer.send(to: local)
        #expect(await observed.wait { $0.values.count == 2 })
        #expect(observed.values.last?.rows == [["from the peer"]])

        // A bundle too.
        try await peer.sql("INSERT INTO notes VALUES ('n2', 'by bundle')")
        _ = try await local.store.importBundle(try await peer.store.exportBundle().bytes)
        #expect(await observed.wait { $0.values.last?.rows.count == 2 })
        observed.cancel()
    }

    /// A table created after the observation starts is seen once the query
    /// reads it: a schema change runs the query again.
    @Test func schemaChangesRunTheQueryAgain() async throws {
        let replica = try TestReplica()
        let observed = Collector.start(
            replica.store.observe(SQLRequest("SELECT name FROM sqlite_schema WHERE type = 'table' AND name = 'late'")))
        #expect(await observed.wait { $0.values.count == 1 })
        try await replica.sql("CREATE TABLE late(id TEXT PRIMARY KEY)")
        #expect(await observed.wait { $0.values.last?.rows == [["late"]] })
        observed.cancel()
    }

    /// With one reader and no line to wait in, observers that wake
    /// together find it busy: they wait their turn instead of failing.
    @Test func busyReadersAreWaitedFor() async throws {
        let replica = try TestReplica(limits: StatementLimits(readConnections: 1, maximumWaitingReads: 0))
        try await replica.sql("CREATE TABLE t(id INTEGER PRIMARY KEY)")
        let slow = """
            WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 20000)
            SELECT (SELECT count(*) FROM t) + 0 * (SELECT count(*) FROM k)
            """
        let observers = (0..<6).map { _ in Collector.start(replica.store.observe(SQLRequest(slow))) }
        for observer in observers { #expect(await observer.wait { $0.values.count == 1 }) }
        try await replica.sql("INSERT INTO t VALUES (1)")
        for observer in observers {
            #expect(await observer.wait { $0.values.last.flatMap(Self.count) == 1 })
            #expect(observer.end == nil)
            observer.cancel()
        }
    }

    @Test func cancellationEndsTheObservationAndReleasesIt() async throws {
        let replica = try TestReplica()
        try await replica.sql("CREATE TABLE t(id INTEGER PRIMARY KEY)")
        let before = replica.store.feed.subscriberCount
        let observed = Collector.start(replica.store.observe(SQLRequest("SELECT count(*) FROM t")))
        #expect(await observed.wait { $0.values.count == 1 })
        #expect(replica.store.feed.subscriberCount == before + 1)
        observed.cancel()
        #expect(await observed.wait { $0.end != nil })
        #expect(await observed.wait { _ in replica.store.feed.subscriberCount == before })
        try await replica.sql("INSERT INTO t VALUES (1)")
        try await Task.sleep(for: .milliseconds(100))
        #expect(observed.values.count == 1)
    }

    /// A consumer that stops iterating (leaves its loop) releases the
    /// observation too.
    @Test func leavingTheLoopReleasesIt() async throws {
        let replica = try TestReplica()
        try await replica.sql("CREATE TABLE t(id INTEGER PRIMARY KEY)")
        let before = replica.store.feed.subscriberCount
        for try await result in replica.store.observe(SQLRequest("SELECT count(*) FROM t")) {
            #expect(Self.count(result) == 0)
            break
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while replica.store.feed.subscriberCount != before, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(replica.store.feed.subscriberCount == before)
    }

    @Test func closingTheReplicaEndsIt() async throws {
        let replica = try TestReplica()
        try await replica.sql("CREATE TABLE t(id INTEGER PRIMARY KEY)")
        let observed = Collector.start(replica.store.observe(SQLRequest("SELECT count(*) FROM t")))
        #expect(await observed.wait { $0.values.count == 1 })
        try await replica.store.close()
        #expect(await observed.wait { $0.end != nil })
        if case .failure(let error) = observed.end { Issue.record("closing ended it with \(error)") }
        // Observing a closed replica fails, and says why.
        let late = Collector.start(replica.store.observe(SQLRequest("SELECT count(*) FROM t")))
        #expect(await late.wait { $0.end != nil })
        guard case .failure(let error as P2PDBError) = late.end else { Issue.record("no error"); return }
        #expect(error.kind == .unavailable)
    }

    @Test func queryErrorsEndIt() async throws {
        let replica = try TestReplica()
        try await replica.sql("CREATE TABLE t(id INTEGER PRIMARY KEY)")
        let missing = Collector.start(replica.store.observe(SQLRequest("SELECT * FROM nowhere")))
        let writes = Collector.start(replica.store.observe(SQLRequest("DELETE FROM t")))
        #expect(await missing.wait { $0.end != nil })
        #expect(await writes.wait { $0.end != nil })
        guard case .failure(let error as P2PDBError) = missing.end else { Issue.record("no error"); return }
        #expect(error.message.contains("nowhere"))
        guard case .failure(let refusal as P2PDBError) = writes.end else { Issue.record("no error"); return }
        #expect(refusal == .statementWrites)
    }

    struct Item: Decodable, Sendable, Equatable {
        var id: String
        var stock: Int
    }

    /// The node's typed observation decodes each result; a row that does
    /// not decode ends it with an error.
    @Test func typedObservationOnANode() async throws {
        let test = try TestNode()
        let node = test.node
        try await node.execute("CREATE TABLE items(id TEXT PRIMARY KEY, stock)")
        let observed = Collector.start(node.observe(Item.self, "SELECT id, stock FROM items WHERE stock < ? ORDER BY id", [5]))
        #expect(await observed.wait { $0.values.count == 1 })
        try await node.execute("INSERT INTO items VALUES ('apple', 3), ('pear', 10)")
        #expect(await observed.wait { $0.values.count == 2 })
        #expect(observed.values.last == [Item(id: "apple", stock: 3)])
        try await node.execute("INSERT INTO items VALUES ('plum', 1.5)")
        #expect(await observed.wait { $0.end != nil })
        guard case .failure(let error as P2PDBError) = observed.end else { Issue.record("no error"); return }
        #expect(error.kind == .invalidInput && error.message.contains("column \"stock\" holds REAL 1.5"), "\(error.message)")
        try await node.close()
    }
}
