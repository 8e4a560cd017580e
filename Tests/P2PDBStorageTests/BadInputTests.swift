import P2PDBCore
import P2PDBStorage
import Testing

/// Every refused or failing statement must throw a clear error and change
/// nothing: no entry, no row, same state hash.
@Suite("Bad input changes nothing")
struct BadInputTests {
    func replica() async throws -> TestReplica {
        let replica = try TestReplica()
        try await replica.sql("CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT NOT NULL, stock COUNTER INTEGER NOT NULL DEFAULT 0)")
        try await replica.sql("INSERT INTO items VALUES ('apple', 'Apple', 1)")
        return replica
    }

    func expectUnchanged(_ sql: String, _ parameters: [Value] = [], kind: P2PDBError.Kind, containing text: String? = nil) async throws {
        let replica = try await replica()
        let before = replica.store.summary
        let rowsBefore = try await replica.snapshot()
        do {
            try await replica.sql(sql, parameters)
            Issue.record("expected \(kind) for: \(sql)")
        } catch let error as P2PDBError {
            #expect(error.kind == kind, "\(sql): \(error.message)")
            if let text { #expect(error.message.contains(text), "\(error.message)") }
            #expect(!error.message.contains("\n"))
        }
        #expect(replica.store.summary == before)
        #expect(try await replica.snapshot() == rowsBefore)
        #expect(try await replica.store.verify().isValid)
    }

    @Test func syntaxError() async throws {
        try await expectUnchanged("INSERT INTO items VALUES ('kiwi', 'Kiwi', 0); SELEC 1", kind: .invalidSQL, containing: "syntax error")
    }

    @Test func constraintViolationRollsBackTheWholeTransaction() async throws {
        try await expectUnchanged("INSERT INTO items VALUES ('kiwi', 'Kiwi', 0); INSERT INTO items VALUES ('apple', 'Dup', 0)", kind: .constraint)
        try await expectUnchanged("INSERT INTO items(id) VALUES ('kiwi')", kind: .constraint, containing: "NOT NULL")
    }

    @Test func wrongParameterCounts() async throws {
        try await expectUnchanged("INSERT INTO items VALUES (?, ?, 0)", ["kiwi"], kind: .invalidParameters)
        try await expectUnchanged("INSERT INTO items VALUES (?, 'x', 0)", ["kiwi", "extra"], kind: .invalidParameters)
    }

    @Test func counterAddedToAnExistingTableMustStartAtZero() async throws {
        let replica = try TestReplica()
        try await replica.sql("CREATE TABLE items (id TEXT PRIMARY KEY)")
        await #expect(throws: P2PDBError.self) {
            try await replica.sql("ALTER TABLE items ADD COLUMN stock COUNTER INTEGER NOT NULL DEFAULT 5")
        }
        try await replica.sql("ALTER TABLE items ADD COLUMN stock COUNTER INTEGER NOT NULL DEFAULT 0")
    }

    @Test func tableWithoutPrimaryKey() async throws {
        try await expectUnchanged("CREATE TABLE loose (a, b)", kind: .refused, containing: "PRIMARY KEY")
    }

    @Test(arguments: [
        ("INSERT INTO _p2pdb_heads VALUES (x'00')", "internal"),
        ("SELECT * FROM _p2pdb_entries", "internal"),
        ("DELETE FROM \"_P2PDB_ROWS\"", "internal"),
        ("SELECT * FROM '_p2pdb_entries'", "internal"),
        ("DELETE FROM '_p2pdb_heads'", "internal"),
        ("SELECT * FROM [_p2pdb_rows]", "internal"),
        ("SELECT * FROM `_p2pdb_authors`", "internal"),
        ("SELECT * FROM pragma_table_info('_p2pdb_rows')", "internal"),
        ("PRAGMA table_info('_p2pdb_rows')", "internal"),
        ("INSERT INTO items(id, name) SELECT hex(pk), 'x' FROM '_p2pdb_rows'", "internal"),
        ("ATTACH DATABASE ':memory:' AS other", "ATTACH"),
        ("SELECT load_extension('libevil')", "load_extension is not available"),
        ("PRAGMA writable_schema = 1", "PRAGMA"),
        ("PRAGMA journal_mode = DELETE", "PRAGMA"),
        ("DROP TABLE items", "DROP"),
        ("ALTER TABLE items DROP COLUMN name", "ALTER TABLE"),
        ("ALTER TABLE items RENAME TO goods", "ALTER TABLE"),
        ("CREATE TEMP TRIGGER t AFTER INSERT ON items BEGIN SELECT 1; END", "temporary"),
        ("CREATE TRIGGER t BEFORE INSERT ON items BEGIN SELECT RAISE(IGNORE); END", "RAISE(IGNORE)"),
        ("CREATE TRIGGER t AFTER INSERT ON _p2pdb_rows BEGIN SELECT 1; END", "internal"),
        ("DROP VIEW absent", "no such view"),
        ("CREATE TABLE f (id TEXT PRIMARY KEY, item TEXT REFERENCES items(name))", "PRIMARY KEY of items"),
        ("CREATE TABLE f (id TEXT PRIMARY KEY, a TEXT, b TEXT, FOREIGN KEY (a, b) REFERENCES items)", "PRIMARY KEY of items"),
        ("DROP TABLE IF EXISTS items", "DELETE FROM"),
        ("CREATE UNIQUE INDEX u ON items(name)", "UNIQUE"),
        ("CREATE TABLE u (id TEXT PRIMARY KEY, email TEXT UNIQUE)", "UNIQUE"),
        ("ALTER TABLE items ADD COLUMN n INT CHECK (n > 0)", "CREATE TABLE"),
        ("ALTER TABLE items ADD COLUMN item TEXT REFERENCES items(id)", "CREATE TABLE"),
        ("CREATE TEMP TABLE t (id TEXT PRIMARY KEY)", "temporary"),
        ("CREATE TABLE s AS SELECT * FROM items", "AS SELECT"),
        ("CREATE TABLE g (id TEXT PRIMARY KEY, n INT, d INT AS (n * 2))", "generated"),
        ("CREATE TABLE k (id TEXT PRIMARY KEY, n COUNTER INTEGER DEFAULT 1.5)", "DEFAULT"),
        ("CREATE TEMP VIEW v AS SELECT 1", "temporary"),
        ("CREATE VIRTUAL TABLE v USING fts5(x)", "virtual"),
        ("VACUUM", "VACUUM"),
        ("INSERT OR ROLLBACK INTO items VALUES ('x', 'y', 0)", "ROLLBACK"),
        ("SAVEPOINT s", "SAVEPOINT"),
        ("INSERT INTO items VALUES ('x', 'y', 0); BEGIN", "BEGIN"),
        ("UPDATE items SET stock = 1.5", "COUNTER"),
        ("INSERT INTO items VALUES (NULL, 'y', 0)", "NULL"),
        ("INSERT INTO items VALUES ('bad', CAST(x'ff' AS TEXT), 0)", "UTF-8"),
    ] as [(String, String)])
    func refusedStatements(_ statement: (String, String)) async throws {
        let replica = try await replica()
        let before = replica.store.summary
        await #expect {
            try await replica.sql(statement.0)
        } throws: { error in
            guard let error = error as? P2PDBError else { return false }
            return error.message.localizedCaseInsensitiveContains(statement.1) && !error.message.contains("\n")
        }
        #expect(replica.store.summary == before)
        #expect(try await replica.store.verify().isValid)
    }

    @Test func writesThroughTheReadPathAreRefused() async throws {
        let replica = try await replica()
        await #expect(throws: P2PDBError.self) { try await replica.store.query(SQLRequest("DELETE FROM items")) }
        #expect(try await replica.rows("SELECT count(*) FROM items") == [[1]])
    }

    @Test func readOnlyPragmasAndQueriesWork() async throws {
        let replica = try await replica()
        #expect(try await replica.rows("PRAGMA table_info(items)").count == 3)
        let result = try await replica.sql("SELECT name FROM items WHERE id = ?", ["apple"])
        #expect(result.entry == nil)
        #expect(result.lastQuery?.rows == [["Apple"]])
        let returning = try await replica.sql("INSERT INTO items VALUES ('kiwi', 'Kiwi', 2) RETURNING id, stock")
        #expect(returning.lastQuery?.rows == [["kiwi", 2]])
        #expect(returning.entry != nil)
    }

    @Test func failedTransactionInABatchLeavesTheOthers() async throws {
        let replica = try await replica()
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<40 {
                group.addTask {
                    do {
                        // Every fifth statement collides with an existing key.
                        let id: Value = index % 5 == 0 ? "apple" : .text("item-\(index)")
                        try await replica.sql("INSERT INTO items VALUES (?, 'n', 1)", [id])
                        return true
                    } catch let error as P2PDBError {
                        #expect(error.kind == .constraint)
                        return false
                    }
                }
            }
            var succeeded = 0
            for try await ok in group where ok { succeeded += 1 }
            #expect(succeeded == 32)
        }
        #expect(try await replica.rows("SELECT count(*) FROM items") == [[33]])
        #expect(try await replica.entries().count == 2 + 32)
        #expect(try await replica.store.verify().isValid)
    }
}
