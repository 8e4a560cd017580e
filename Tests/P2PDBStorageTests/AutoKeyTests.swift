import P2PDBCore
@testable import P2PDBStorage
import Testing

/// Keys SQLite would choose (the largest plus one) are the same on every
/// replica; P2PDB gives such rows keys of their own.
@Suite("Keys that cannot collide")
struct AutoKeyTests {
    static let schemas = [
        "CREATE TABLE sales (id INTEGER PRIMARY KEY, total REAL)",
        "CREATE TABLE sales (id INTEGER PRIMARY KEY AUTOINCREMENT, total REAL)",
    ]

    @Test(arguments: schemas)
    func twoRegistersSellingOfflineKeepBothSales(_ schema: String) async throws {
        let (a, b) = (try TestReplica(), try TestReplica())
        try await a.sql(schema)
        try await syncAll([a, b])
        for replica in [a, b] {
            try await replica.sql("INSERT INTO sales (total) VALUES (9.99)")
            try await replica.sql("INSERT INTO sales VALUES (NULL, 1.5)")
            try await replica.sql("INSERT INTO sales VALUES (?, ?)", [.null, .real(2.5)])
            try await replica.sql("INSERT INTO sales VALUES (abs(?), 3.5)", [.null])
            try await replica.sql("INSERT INTO sales VALUES (NULL, 4.5), (NULL, 5.5), (?, 6.5)", [.null])
        }
        try await syncAll([a, b])
        #expect(try await a.rows("SELECT count(*), count(DISTINCT id) FROM sales") == [[.integer(14), .integer(14)]])
        try await expectConverged([a, b])
    }

    @Test func theClientSeesTheKeyTheRowGot() async throws {
        let a = try TestReplica()
        try await a.sql("CREATE TABLE sales (id INTEGER PRIMARY KEY, total REAL)")
        let result = try await a.store.execute([
            SQLRequest("INSERT INTO sales (total) VALUES (1)"),
            SQLRequest("SELECT last_insert_rowid()"),
            SQLRequest("INSERT INTO sales (total) VALUES (2) RETURNING id, total"),
        ])
        let stored = try await a.rows("SELECT id FROM sales ORDER BY total")
        #expect(result.results[1].rows == [stored[0]])
        #expect(result.results[2].rows.map { $0[0] } == [stored[1][0]])
        // Keys above what SQLite would choose, so nobody else picks them.
        guard case .integer(let key) = stored[0][0] else { Issue.record("key is not an integer"); return }
        #expect(key > 1 << 40)
    }

    @Test func keysTheClientGivesAreKept() async throws {
        let a = try TestReplica()
        try await a.sql("CREATE TABLE sales (id INTEGER PRIMARY KEY, total REAL)")
        try await a.sql("INSERT INTO sales VALUES (7, 1), (?, 2)", [.integer(8)])
        try await a.sql("INSERT INTO sales VALUES (?, 3)", [.integer(-1)])
        try await a.sql("INSERT INTO sales SELECT id + 100, total FROM sales")
        #expect(try await a.rows("SELECT id FROM sales ORDER BY id") == [[-1], [7], [8], [99], [107], [108]].map { $0.map(Value.integer) })
    }

    /// A trigger's program, listed after the statement's with cursors
    /// numbered from 0 again, may take a key from SQLite in another table;
    /// that says nothing about the statement's own table.
    @Test func aTriggerTakingKeysElsewhereLeavesTheGivenKeyAlone() async throws {
        let a = try TestReplica()
        try await a.sql("CREATE TABLE sales (id INTEGER PRIMARY KEY, total REAL)")
        try await a.sql("CREATE TABLE log (code TEXT PRIMARY KEY, note TEXT)")
        try await a.sql("CREATE TRIGGER noted BEFORE UPDATE ON sales BEGIN INSERT OR REPLACE INTO log VALUES ('u', NEW.total); END")
        try await a.sql("INSERT INTO sales VALUES (?, 1) ON CONFLICT (id) DO UPDATE SET total = excluded.total", [.integer(1)])
        try await a.sql("INSERT INTO sales VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET total = excluded.total")
        #expect(try await a.rows("SELECT id, total FROM sales") == [[.integer(1), .real(2)]])
        #expect(try await a.rows("SELECT code, note FROM log") == [[.text("u"), .text("2.0")]])
    }

    /// The watcher of a table a trigger inserts into also sees a key given
    /// as -1; when that insert turns into an upsert's update, the trigger's
    /// own insert, with a key it gives, must keep that key.
    @Test func aKeyGivenByATriggerAfterAnUpsertIsKept() async throws {
        let a = try TestReplica()
        try await a.sql("CREATE TABLE kv (id INTEGER PRIMARY KEY, v TEXT)")
        try await a.sql("CREATE TRIGGER copied AFTER UPDATE ON kv BEGIN INSERT OR REPLACE INTO kv (id, v) VALUES (3, NEW.v); END")
        try await a.sql("INSERT INTO kv VALUES (-1, 'a')")
        try await a.sql("INSERT INTO kv (id, v) VALUES (?, 'b') ON CONFLICT (id) DO UPDATE SET v = excluded.v", [.integer(-1)])
        #expect(try await a.rows("SELECT id, v FROM kv ORDER BY id") == [[.integer(-1), .text("b")], [.integer(3), .text("b")]])
    }

    /// A BEFORE INSERT trigger that inserts into its own table runs between
    /// the watcher of a row given the key -1 and that row's insert: its row
    /// keeps the key it gives, and so does the watched one.
    @Test func aTriggerInsertingIntoItsOwnTableKeepsBothKeys() async throws {
        let a = try TestReplica()
        try await a.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, c INTEGER DEFAULT 9)")
        try await a.sql("CREATE TRIGGER echo BEFORE INSERT ON t BEGIN INSERT OR IGNORE INTO t (id, n) VALUES (coalesce(NEW.c, 1), NEW.n); END")
        try await a.sql("INSERT INTO t (id, n) VALUES (?, 1)", [.integer(-1)])
        #expect(try await a.rows("SELECT id, n FROM t ORDER BY id") == [[.integer(-1), .integer(1)], [.integer(9), .integer(1)]])
    }

    /// A key read from a parameter or a literal, even row by row out of a
    /// multi-row VALUES, is known without watching each row: watching needs
    /// a BEFORE INSERT trigger, and with one SQLite checks a STRICT column's
    /// type before the key's conflict, so OR IGNORE would fail where plain
    /// SQLite skips the row.
    @Test func keysFromParametersAreNotWatched() async throws {
        let a = try TestReplica()
        try await a.sql("CREATE TABLE t (a INT, k INTEGER, PRIMARY KEY (k)) STRICT")
        try await a.sql("INSERT INTO t (k) VALUES (-1), (5)")
        try await a.sql("INSERT OR IGNORE INTO t (a, k) VALUES ('a' || char(0) || 'b', ?)", [.integer(-1)])
        try await a.sql("INSERT OR IGNORE INTO t (a, k) VALUES ('x', ?), (1, 7), ('y', ?)", [.integer(5), .integer(-1)])
        try await a.sql("INSERT OR IGNORE INTO t (a, k) VALUES (0.5, ?), ('y', ?) RETURNING k", [.integer(5), .integer(-1)])
        #expect(try await a.rows("SELECT k, a FROM t ORDER BY k") == [[.integer(-1), .null], [.integer(5), .null], [.integer(7), .integer(1)]])
        // A NULL among them still gets a key of P2PDB's, and only that row.
        try await a.sql("INSERT INTO t (a, k) VALUES (2, ?), (3, 100)", [.null])
        let keys = try await a.rows("SELECT k FROM t WHERE a IN (2, 3) ORDER BY a")
        #expect(keys.last == [.integer(100)])
        guard case .integer(let key) = keys.first?.first else { Issue.record("no key for the NULL row"); return }
        #expect(key > 1 << 40)
        // The watcher that statement needed is gone again.
        try await a.sql("INSERT OR IGNORE INTO t (a, k) VALUES ('z', -1)")
        #expect(try await a.rows("SELECT count(*) FROM t") == [[.integer(5)]])
    }

    @Test func keySourcesFollowCopiesBackToParameters() {
        // Register 8 is filled row by row in a coroutine (Variable, literal)
        // and copied into the key register 1.
        let multiRow: [KeySources.Instruction] = [
            ("Init", 0, 31, 0), ("InitCoroutine", 5, 15, 2), ("String8", 0, 6, 0), ("Variable", 1, 8, 0), ("Yield", 5, 0, 0),
            ("Integer", 5, 8, 0), ("Yield", 5, 0, 0), ("EndCoroutine", 5, 0, 0), ("OpenWrite", 0, 2, 0), ("Yield", 5, 30, 0),
            ("Copy", 8, 1, 0), ("SoftNull", 8, 0, 0),
        ]
        #expect(KeySources.trace(1, in: multiRow) == .parameters([1]))
        #expect(KeySources.trace(1, in: multiRow.prefix(5) + [("Null", 0, 8, 0)] + multiRow.dropFirst(5)) == .expression)
        // With RETURNING the rows pass through a temporary table first.
        let returning: [KeySources.Instruction] = [
            ("InitCoroutine", 5, 11, 2), ("Integer", 42, 6, 0), ("Variable", 1, 8, 0), ("Yield", 5, 0, 0), ("Variable", 2, 6, 0),
            ("Variable", 3, 8, 0), ("Yield", 5, 0, 0), ("EndCoroutine", 5, 0, 0), ("OpenEphemeral", 0, 3, 0), ("Yield", 5, 17, 0),
            ("MakeRecord", 6, 3, 12), ("NewRowid", 0, 13, 0), ("Insert", 0, 12, 13), ("Goto", 0, 12, 0), ("OpenWrite", 1, 2, 0),
            ("Rewind", 0, 38, 0), ("Column", 0, 0, 2), ("SoftNull", 3, 0, 0), ("Column", 0, 2, 1),
        ]
        #expect(KeySources.trace(1, in: returning) == .parameters([1, 3]))
        #expect(KeySources.trace(2, in: returning) == .parameters([2]))
        #expect(KeySources.trace(1, in: [("OpenRead", 0, 2, 0), ("Column", 0, 2, 1)]) == .expression)
        #expect(KeySources.trace(1, in: [("Once", 0, 1, 0), ("Variable", 2, 1, 0)]) == .parameter(2))
        #expect(KeySources.trace(1, in: [("Integer", 3, 1, 0)]) == .literals)
        #expect(KeySources.trace(1, in: [("Variable", 1, 9, 0), ("Function", 1, 9, 1)]) == .expression)
        #expect(KeySources.trace(1, in: [("SomethingNew", 0, 0, 1)]) == .expression)
    }

    @Test func uuidKeysAreMadeOnTheWritingNode() async throws {
        let (a, b) = (try TestReplica(), try TestReplica())
        try await a.sql("CREATE TABLE notes (id TEXT PRIMARY KEY DEFAULT (uuid()), body TEXT)")
        try await syncAll([a, b])
        try await a.sql("INSERT INTO notes (body) VALUES ('a')")
        try await b.sql("INSERT INTO notes (body) VALUES ('b')")
        try await syncAll([a, b])
        let ids = try await a.rows("SELECT id FROM notes")
        #expect(ids.count == 2)
        for id in ids {
            guard case .text(let text) = id[0] else { Issue.record("uuid() is not text"); continue }
            #expect(text.count == 36 && text[text.index(text.startIndex, offsetBy: 14)] == "7")
        }
        try await expectConverged([a, b])
    }
}
