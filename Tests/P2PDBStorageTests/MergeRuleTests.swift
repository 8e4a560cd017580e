import P2PDBCore
import P2PDBStorage
import Testing

@Suite("Merge rules")
struct MergeRuleTests {
    let schema = "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, price INTEGER, stock COUNTER INTEGER NOT NULL DEFAULT 0)"

    /// Two replicas that share the schema and one row.
    func pair() async throws -> (TestReplica, TestReplica) {
        let a = try TestReplica()
        let b = try TestReplica()
        try await a.sql(schema)
        try await a.sql("INSERT INTO items VALUES ('apple', 'Apple', 100, 10)")
        try await a.send(to: b)
        return (a, b)
    }

    @Test func eachColumnIsItsOwnLastWriterWinsRegister() async throws {
        let (a, b) = try await pair()
        try await a.sql("UPDATE items SET name = 'Green apple' WHERE id = 'apple'")
        try await b.sql("UPDATE items SET price = 120 WHERE id = 'apple'")
        try await syncAll([a, b])
        #expect(try await a.rows("SELECT name, price FROM items") == [["Green apple", 120]])
        try await expectConverged([a, b])
    }

    @Test func concurrentWritesToOneColumnResolveByLamportThenNodeID() async throws {
        let (a, b) = try await pair()
        try await a.sql("UPDATE items SET name = 'from A' WHERE id = 'apple'")
        try await b.sql("UPDATE items SET name = 'from B' WHERE id = 'apple'")
        // Equal Lamport clocks: the larger node ID wins.
        let winner = a.key.nodeID > b.key.nodeID ? "from A" : "from B"
        try await syncAll([a, b])
        #expect(try await b.rows("SELECT name FROM items") == [[.text(winner)]])
        // A write that has seen the other wins whoever wrote it.
        let loser = a.key.nodeID > b.key.nodeID ? b : a
        try await loser.sql("UPDATE items SET name = 'later' WHERE id = 'apple'")
        try await syncAll([a, b])
        #expect(try await a.rows("SELECT name FROM items") == [["later"]])
        try await expectConverged([a, b])
    }

    @Test func counterColumnsAddConcurrentDeltas() async throws {
        let (a, b) = try await pair()
        try await a.sql("UPDATE items SET stock = stock - 1 WHERE id = 'apple'")
        try await b.sql("UPDATE items SET stock = stock - 1 WHERE id = 'apple'")
        try await b.sql("UPDATE items SET stock = stock + 5 WHERE id = 'apple'")
        try await syncAll([a, b])
        #expect(try await a.rows("SELECT stock FROM items") == [[13]])
        try await expectConverged([a, b])
    }

    @Test func counterRefusesNonIntegerValues() async throws {
        let (a, _) = try await pair()
        let before = a.stateHash
        await #expect(throws: P2PDBError.self) { try await a.sql("UPDATE items SET stock = 'many' WHERE id = 'apple'") }
        await #expect(throws: P2PDBError.self) { try await a.sql("UPDATE items SET stock = NULL WHERE id = 'apple'") }
        #expect(a.stateHash == before)
    }

    @Test func deleteBeatsConcurrentUpdate() async throws {
        let (a, b) = try await pair()
        try await a.sql("DELETE FROM items WHERE id = 'apple'")
        try await b.sql("UPDATE items SET name = 'still here?', stock = stock + 3 WHERE id = 'apple'")
        try await b.sql("UPDATE items SET price = 1 WHERE id = 'apple'")
        try await syncAll([a, b])
        #expect(try await b.rows("SELECT * FROM items") == [])
        try await expectConverged([a, b])
    }

    @Test func reinsertAfterSeeingTheDeleteRevivesTheRow() async throws {
        let (a, b) = try await pair()
        try await a.sql("DELETE FROM items WHERE id = 'apple'")
        try await a.send(to: b)
        try await b.sql("INSERT INTO items VALUES ('apple', 'Apple again', 90, 4)")
        try await syncAll([a, b])
        #expect(try await a.rows("SELECT name, price, stock FROM items") == [["Apple again", 90, 4]])
        try await expectConverged([a, b])
    }

    @Test func reinsertFollowingItsOwnDeleteRevivesTheRowEverywhere() async throws {
        // The register was off when head office deleted the product; it
        // re-creates the row without having seen the delete.
        let (office, register) = try await pair()
        try await office.sql("DELETE FROM items WHERE id = 'apple'")
        try await register.sql("DELETE FROM items WHERE id = 'apple'")
        try await register.sql("INSERT INTO items VALUES ('apple', 'old price list', 100, 10)")
        let third = try TestReplica()
        try await office.send(to: third)
        try await register.send(to: third)
        try await syncAll([office, register, third])
        // Both replicas deleted (causal length 2); the register's re-insert
        // follows its own delete, so it revives the row everywhere.
        #expect(try await office.rows("SELECT name FROM items") == [["old price list"]])
        try await expectConverged([office, register, third])
    }

    @Test func tombstonesNeverExpire() async throws {
        let (office, register) = try await pair()
        try await office.sql("DELETE FROM items WHERE id = 'apple'")
        for day in 0..<40 { try await office.sql("INSERT INTO items VALUES (?, 'x', 1, 0)", [.text("day-\(day)")]) }
        // The register, off for the whole time, still sells the product.
        try await register.sql("UPDATE items SET stock = stock - 1 WHERE id = 'apple'")
        try await syncAll([office, register])
        #expect(try await register.rows("SELECT count(*) FROM items WHERE id = 'apple'") == [[0]])
        try await expectConverged([office, register])
    }

    @Test func upsertsAndMultiStatementTransactionsReplicate() async throws {
        let (a, b) = try await pair()
        try await a.sql("""
            BEGIN;
            INSERT INTO items (id, name, price) VALUES ('apple', 'Upserted', 1) ON CONFLICT (id) DO UPDATE SET name = excluded.name;
            INSERT INTO items (id, name, price) VALUES ('kiwi', 'Kiwi', 2) ON CONFLICT (id) DO UPDATE SET name = excluded.name;
            UPDATE items SET stock = stock + 2;
            COMMIT;
            """)
        try await a.send(to: b)
        #expect(try await b.rows("SELECT id, name, price, stock FROM items ORDER BY id") == [["apple", "Upserted", 100, 12], ["kiwi", "Kiwi", 2, 2]])
        #expect(try await a.entries().count == 3)
        try await expectConverged([a, b])
    }

    @Test func primaryKeyChangeIsDeleteAndInsert() async throws {
        let (a, b) = try await pair()
        try await a.sql("UPDATE items SET id = 'pear' WHERE id = 'apple'")
        try await a.send(to: b)
        #expect(try await b.rows("SELECT id, name FROM items") == [["pear", "Apple"]])
        try await expectConverged([a, b])
    }

    @Test func schemaChangesMergeAndRowsForNewColumnsAreKept() async throws {
        let (a, b) = try await pair()
        try await a.sql("ALTER TABLE items ADD COLUMN colour TEXT DEFAULT 'red'")
        try await a.sql("UPDATE items SET colour = 'green' WHERE id = 'apple'")
        try await b.sql("ALTER TABLE items ADD COLUMN origin TEXT")
        try await b.sql("UPDATE items SET origin = 'NZ', name = 'Kiwi apple' WHERE id = 'apple'")
        try await b.sql("CREATE INDEX items_by_origin ON items(origin)")
        try await syncAll([a, b])
        #expect(try await a.rows("SELECT name, colour, origin FROM items") == [["Kiwi apple", "green", "NZ"]])
        let columnsA = try await a.rows("SELECT name FROM pragma_table_info('items')")
        let columnsB = try await b.rows("SELECT name FROM pragma_table_info('items')")
        #expect(columnsA == columnsB)
        #expect(try await a.rows("SELECT name FROM sqlite_schema WHERE type = 'index' AND name = 'items_by_origin'") == [["items_by_origin"]])
        try await expectConverged([a, b])
    }

    @Test func concurrentTablesWithTheSameNameConverge() async throws {
        let a = try TestReplica()
        let b = try TestReplica()
        try await a.sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        try await a.sql("INSERT INTO notes VALUES (1, 'from a')")
        try await b.sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, body TEXT)")
        try await b.sql("INSERT INTO notes VALUES (1, 'title b', 'from b')")
        try await syncAll([a, b])
        try await expectConverged([a, b])
        #expect(try await a.rows("SELECT count(*) FROM notes") == [[1]])
    }

    @Test func orderOfDeliveryDoesNotMatter() async throws {
        let (a, b) = try await pair()
        try await a.sql("UPDATE items SET stock = stock + 1")
        try await a.sql("DELETE FROM items")
        try await a.sql("INSERT INTO items VALUES ('apple', 'back', 5, 5)")
        try await b.sql("UPDATE items SET name = 'b', stock = stock - 2")
        let forward = try TestReplica()
        let backward = try TestReplica()
        let all = try await a.entries() + b.entries()
        _ = try await forward.store.apply(all)
        // Children before parents: they wait, then apply when parents come.
        let report = try await backward.store.apply(all.reversed())
        #expect(report.applied == Set(all.map(\.id)).count)
        try await syncAll([a, b])
        try await expectConverged([a, b, forward, backward])
    }

    /// A row written before its replica knew a column never wrote that
    /// column: a concurrent write to the column with a lower stamp must
    /// still win, on replicas that learned the column first or last.
    @Test func aColumnAddedAfterARowWasWrittenTakesAnyWriteToIt() async throws {
        let (office, register) = try await pair()
        try await register.sql("ALTER TABLE items ADD COLUMN note TEXT DEFAULT 'none'")
        try await register.sql("INSERT INTO items (id, name, price, stock, note) VALUES ('pear', 'Pear', 1, 0, 'from register')")
        // The office has not seen the column; its clock runs ahead.
        for price in 1...5 { try await office.sql("UPDATE items SET price = ? WHERE id = 'apple'", [.integer(Int64(price))]) }
        try await office.sql("INSERT INTO items (id, name, price, stock) VALUES ('pear', 'Pear', 2, 0)")

        let columnFirst = try TestReplica()
        try await register.send(to: columnFirst)
        try await office.send(to: columnFirst)
        let rowFirst = try TestReplica()
        try await office.send(to: rowFirst)
        try await register.send(to: rowFirst)
        try await syncAll([office, register])
        for replica in [office, register, columnFirst, rowFirst] {
            #expect(try await replica.rows("SELECT note FROM items WHERE id = 'pear'") == [["from register"]])
        }
        try await expectConverged([office, register, columnFirst, rowFirst])
    }

    /// Column names come from SQLite at every run: a statement prepared
    /// before a schema change (here another replica's ADD COLUMN) must not
    /// name the old columns.
    @Test func queriesNameTheColumnsOfTheSchemaAsItNowIs() async throws {
        let a = try TestReplica()
        let b = try TestReplica()
        try await a.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT)")
        try await a.sql("INSERT INTO t VALUES (1, 'one')")
        try await a.send(to: b)
        // Every reader connection prepares the query once.
        for _ in 0..<8 { #expect(try await b.store.query(SQLRequest("SELECT * FROM t")).last?.columns == ["id", "x"]) }
        try await a.sql("ALTER TABLE t ADD COLUMN y TEXT DEFAULT 'why'")
        try await a.send(to: b)
        for _ in 0..<8 {
            let result = try await b.store.query(SQLRequest("SELECT * FROM t")).last
            #expect(result?.columns == ["id", "x", "y"])
            #expect(result?.rows == [[.integer(1), .text("one"), .text("why")]])
        }
    }
}
