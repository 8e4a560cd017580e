import P2PDBCore
import P2PDBStorage
import Testing

/// Foreign keys, checks, triggers, views and drops as applications write
/// them: enforced and run on a node's own writes, never while merging, and
/// every replica converges whatever was written concurrently.
@Suite struct ApplicationSchemaTests {
    static let shop = [
        "CREATE TABLE categories (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL)",
        """
        CREATE TABLE products (id TEXT PRIMARY KEY, category_id INTEGER REFERENCES categories(id) ON DELETE SET NULL,
          name TEXT NOT NULL, price REAL NOT NULL CHECK (price >= 0), stock COUNTER INTEGER, updated_at TEXT)
        """,
        "CREATE TABLE sales (id TEXT PRIMARY KEY DEFAULT (uuid()), total REAL NOT NULL DEFAULT 0)",
        """
        CREATE TABLE sale_lines (id TEXT PRIMARY KEY, sale_id TEXT NOT NULL, product_id TEXT NOT NULL, quantity INTEGER NOT NULL,
          CONSTRAINT positive_quantity CHECK (quantity > 0),
          FOREIGN KEY (sale_id) REFERENCES sales(id) ON DELETE CASCADE,
          FOREIGN KEY (product_id) REFERENCES products(id) DEFERRABLE INITIALLY DEFERRED)
        """,
        "CREATE TABLE audit (id TEXT PRIMARY KEY DEFAULT (uuid()), what TEXT)",
        """
        CREATE TRIGGER sold AFTER INSERT ON sale_lines BEGIN
          UPDATE products SET stock = stock - NEW.quantity WHERE id = NEW.product_id;
          INSERT INTO audit (what) VALUES ('sold ' || NEW.quantity || ' of ' || NEW.product_id);
        END
        """,
        "CREATE TRIGGER stamped AFTER UPDATE ON products BEGIN UPDATE products SET updated_at = 'now' WHERE id = NEW.id; END",
        "CREATE VIEW stock_report AS SELECT name, stock FROM products ORDER BY name",
    ]

    func shopReplicas(_ count: Int) async throws -> [TestReplica] {
        let replicas = try (0..<count).map { _ in try TestReplica() }
        for statement in Self.shop { try await replicas[0].sql(statement) }
        try await replicas[0].sql("INSERT INTO products (id, name, price, stock) VALUES ('apple', 'Apple', 0.5, 10), ('pear', 'Pear', 2, 5)")
        try await syncAll(replicas)
        return replicas
    }

    @Test func foreignKeysAreEnforcedOnLocalWritesAndRefusalsChangeNothing() async throws {
        let replica = try await shopReplicas(1)[0]
        let before = replica.stateHash
        for statement in [
            "INSERT INTO sale_lines VALUES ('l1', 'no such sale', 'apple', 1)",
            "INSERT INTO sales (id) VALUES ('s1'); INSERT INTO sale_lines VALUES ('l1', 's1', 'no such product', 1)",
            "UPDATE products SET price = -1 WHERE id = 'apple'",
            "INSERT INTO sales (id) VALUES ('s1'); INSERT INTO sale_lines VALUES ('l1', 's1', 'apple', 0)",
        ] {
            await #expect(throws: P2PDBError.self) { try await replica.sql(statement) }
            #expect(replica.stateHash == before)
        }
        // A deferred reference may be satisfied later in the transaction.
        _ = try await replica.store.execute([
            SQLRequest("INSERT INTO sales (id) VALUES ('s1')"), SQLRequest("INSERT INTO sale_lines VALUES ('l1', 's1', 'kiwi', 1)"),
            SQLRequest("INSERT INTO products (id, name, price) VALUES ('kiwi', 'Kiwi', 1)"),
        ])
        #expect(try await replica.rows("SELECT count(*) FROM sale_lines") == [[.integer(1)]])
        #expect(try await replica.store.constraintProblems() == [])
    }

    @Test func cascadesAndTriggerEffectsTravelInTheEntryAndRunOnce() async throws {
        let replicas = try await shopReplicas(2)
        try await replicas[0].sql("INSERT INTO sales (id) VALUES ('s1'); INSERT INTO sale_lines VALUES ('l1', 's1', 'apple', 3)")
        let sale = try #require(try await replicas[0].entries().last)
        let tables = Set(sale.payload.tableChanges.map(\.table))
        #expect(tables == ["sales", "sale_lines", "products", "audit"])
        try await syncAll(replicas)
        for replica in replicas {
            #expect(try await replica.rows("SELECT stock, updated_at FROM products WHERE id = 'apple'") == [[.integer(7), .text("now")]])
            #expect(try await replica.rows("SELECT count(*) FROM audit") == [[.integer(1)]])
        }
        try await replicas[1].sql("DELETE FROM sales WHERE id = 's1'")
        let delete = try #require(try await replicas[1].entries().last)
        #expect(Set(delete.payload.tableChanges.map(\.table)) == ["sales", "sale_lines"])
        try await syncAll(replicas)
        #expect(try await replicas[0].rows("SELECT count(*) FROM sale_lines") == [[.integer(0)]])
        try await expectConverged(replicas)
    }

    @Test func aMergeKeepsWhatConcurrentWritesLeaveBrokenAndReportsIt() async throws {
        let replicas = try await shopReplicas(3)
        try await replicas[0].sql("DELETE FROM products WHERE id = 'pear'")
        try await replicas[1].sql("INSERT INTO sales (id) VALUES ('s1'); INSERT INTO sale_lines VALUES ('l1', 's1', 'pear', 4)")
        try await replicas[2].sql("INSERT INTO sales (id) VALUES ('s2'); INSERT INTO sale_lines VALUES ('l2', 's2', 'apple', 6)")
        try await replicas[1].sql("INSERT INTO sales (id) VALUES ('s3'); INSERT INTO sale_lines VALUES ('l3', 's3', 'apple', 6)")
        try await replicas[0].sql("CREATE TABLE shelves (id TEXT PRIMARY KEY, free COUNTER INTEGER CHECK (free >= 0))")
        try await syncAll(replicas)
        try await replicas[0].sql("INSERT INTO shelves (id, free) VALUES ('top', 1)")
        try await syncAll(replicas)
        try await replicas[1].sql("UPDATE shelves SET free = free - 1")
        try await replicas[2].sql("UPDATE shelves SET free = free - 1")
        for source in replicas {
            for target in replicas where target !== source {
                let report = try await target.store.apply(try await source.entries())
                #expect(report.rejected.isEmpty)
            }
        }
        try await expectConverged(replicas)
        for replica in replicas {
            let problems = try await replica.store.constraintProblems()
            #expect(problems.contains(ConstraintProblem(table: "sale_lines", key: [.text("l1")], kind: .danglingReference(parentTable: "products", columns: ["product_id"]))))
            #expect(problems.contains(ConstraintProblem(table: "shelves", key: [.text("top")], kind: .failedCheck(constraint: "free >= 0"))))
            #expect(problems.count == 2)
            #expect(try await replica.rows("SELECT stock FROM products WHERE id = 'apple'") == [[.integer(-2)]])
        }
    }

    @Test func viewsAndTriggersReplicateDropAndComeBack() async throws {
        let replicas = try await shopReplicas(2)
        #expect(try await replicas[1].rows("SELECT * FROM stock_report") == [[.text("Apple"), .integer(10)], [.text("Pear"), .integer(5)]])
        try await replicas[1].sql("DROP VIEW stock_report")
        try await replicas[1].sql("DROP TRIGGER IF EXISTS stamped")
        try await syncAll(replicas)
        await #expect(throws: P2PDBError.self) { try await replicas[0].rows("SELECT * FROM stock_report") }
        try await replicas[0].sql("UPDATE products SET price = 3 WHERE id = 'pear'")
        #expect(try await replicas[0].rows("SELECT updated_at FROM products WHERE id = 'pear'") == [[.null]])
        try await replicas[0].sql("CREATE VIEW stock_report AS SELECT id FROM products ORDER BY id")
        try await syncAll(replicas)
        #expect(try await replicas[1].rows("SELECT * FROM stock_report") == [[.text("apple")], [.text("pear")]])
        try await expectConverged(replicas)
    }

    @Test func aTableAndAViewCreatedConcurrentlyUnderOneNameLeaveTheTable() async throws {
        let replicas = try (0..<2).map { _ in try TestReplica() }
        try await replicas[0].sql("CREATE VIEW things AS SELECT 1 AS x")
        try await replicas[1].sql("CREATE TABLE things (id TEXT PRIMARY KEY); INSERT INTO things VALUES ('kept')")
        try await syncAll(replicas)
        for replica in replicas { #expect(try await replica.rows("SELECT * FROM things") == [[.text("kept")]]) }
        try await expectConverged(replicas)
    }

    @Test func dropsOfWhatDoesNotExistAreNoOps() async throws {
        let replica = try TestReplica()
        let result = try await replica.sql(
            "DROP TABLE IF EXISTS a; DROP VIEW IF EXISTS b; DROP INDEX IF EXISTS c; DROP TRIGGER IF EXISTS main.d")
        #expect(result.entry == nil)
        #expect(try await replica.entries().isEmpty)
        try await replica.sql("CREATE TABLE k (id TEXT PRIMARY KEY, n COUNTER INTEGER); INSERT INTO k (id) VALUES ('x')")
        #expect(try await replica.rows("SELECT n, typeof(n) FROM k") == [[.integer(0), .text("integer")]])
    }

    /// Random sales, deletes, restocks and returns on three registers with
    /// random partial deliveries: no entry is ever refused, and all converge.
    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func randomConcurrentShopsConverge(seed: UInt64) async throws {
        var random = SeededGenerator(seed: seed)
        let replicas = try await shopReplicas(3)
        let products = ["apple", "pear", "kiwi", "plum"]
        for step in 0..<60 {
            let replica = replicas.randomElement(using: &random)!
            let product = Value.text(products.randomElement(using: &random)!)
            switch Int.random(in: 0..<8, using: &random) {
            case 0, 1, 2:
                let sale = Value.text("s\(step)")
                _ = try? await replica.sql(
                    "INSERT INTO sales (id) VALUES (?); INSERT INTO sale_lines VALUES (?, ?, ?, ?)",
                    [sale, .text("l\(step)"), sale, product, .integer(Int64.random(in: 1...4, using: &random))])
            case 3: _ = try? await replica.sql("DELETE FROM products WHERE id = ?", [product])
            case 4: _ = try? await replica.sql("INSERT OR REPLACE INTO products (id, name, price, stock) VALUES (?, 'p', 1, 5)", [product])
            case 5: _ = try? await replica.sql("DELETE FROM sales WHERE id = (SELECT min(id) FROM sales)")
            case 6: _ = try? await replica.sql("UPDATE products SET price = price + 1 WHERE id = ?", [product])
            default:
                let target = replicas.randomElement(using: &random)!
                guard target !== replica else { continue }
                var batch = try await replica.entries().filter { _ in Bool.random(using: &random) }
                batch.shuffle(using: &random)
                let report = try await target.store.apply(batch)
                #expect(report.rejected.isEmpty)
            }
        }
        for source in replicas {
            for target in replicas where target !== source {
                #expect(try await target.store.apply(try await source.entries()).rejected.isEmpty)
            }
        }
        try await expectConverged(replicas)
        let problems = try await replicas[0].store.constraintProblems()
        for replica in replicas.dropFirst() { #expect(try await replica.store.constraintProblems() == problems) }
    }

    /// A peer's view, trigger or CHECK that this SQLite cannot create is
    /// left out here; the entry still merges, and later ones too.
    @Test func definitionsSQLiteCannotCreateNeverStopReplication() async throws {
        let replica = try TestReplica()
        let author = NodeKey()
        let table = TableDefinition(
            name: "t", columns: [ColumnDefinition(name: "id", declaredType: "TEXT"), ColumnDefinition(name: "n", declaredType: "INTEGER")],
            primaryKey: ["id"], checks: [CheckConstraint(expression: "((SELECT 1) = 1)")])
        let first = Entry.make(
            author: author, seq: 1, lamport: 1, parents: [], wallTime: 0,
            payload: EntryPayload(schemaChanges: [
                .createTable(table),
                .createObject(SchemaObjectDefinition(kind: .view, name: "v", sql: "CREATE VIEW \"v\" AS SELEC nothing")),
                .createObject(
                    SchemaObjectDefinition(kind: .trigger, name: "g", table: "t", sql: "CREATE TRIGGER \"g\" AFTER INSERT ON t BEGIN BOGUS; END")),
            ], tableChanges: []))
        let second = Entry.make(
            author: author, seq: 2, lamport: 2, parents: [first.id], wallTime: 0,
            payload: EntryPayload(schemaChanges: [], tableChanges: [
                TableChanges(table: "t", primaryKeyColumns: ["id"], columns: ["n"], rows: [
                    RowChange(kind: .insert, causalLength: 1, primaryKey: [.text("a")], values: [ColumnValue(column: 0, value: .integer(-5))])
                ])
            ]))
        let report = try await replica.store.apply([first, second])
        #expect(report.rejected.isEmpty && report.applied == 2)
        #expect(try await replica.rows("SELECT id, n FROM t") == [[.text("a"), .integer(-5)]])
        try await replica.sql("INSERT INTO t VALUES ('b', 1)")
        #expect(try await replica.store.verify().problems == [])
    }

    /// A trigger whose body names a table this replica does not have (yet)
    /// blocks this replica's own writes to its table, as in SQLite, but
    /// never another replica's entries, nor `verify`.
    @Test func aTriggerNamingAMissingTableNeverBlocksAMerge() async throws {
        let replicas = try (0..<2).map { _ in try TestReplica() }
        try await replicas[0].sql("CREATE TABLE items (id TEXT PRIMARY KEY, n INTEGER)")
        try await replicas[0].sql("INSERT INTO items VALUES ('a', 1)")
        try await syncAll(replicas)
        try await replicas[1].sql("CREATE TRIGGER tr AFTER UPDATE ON items BEGIN UPDATE elsewhere SET x = NEW.n; END")
        try await replicas[0].sql("UPDATE items SET n = 2")
        await #expect(throws: P2PDBError.self) { try await replicas[1].sql("UPDATE items SET n = 3") }
        try await syncAll(replicas)
        try await expectConverged(replicas)
        #expect(try await replicas[1].rows("SELECT n FROM items") == [[.integer(2)]])
    }

    /// A row that references itself, with ON UPDATE CASCADE, given its key
    /// by SQLite: P2PDB moves the key and the cascade rewrites the
    /// reference within the same statement, after SQLite reported the
    /// move. The entry must carry the row as it ends.
    @Test func aCascadeOnTheRowBeingWrittenIsCapturedAsItEnds() async throws {
        let replicas = try (0..<2).map { _ in try TestReplica() }
        try await replicas[0].sql("CREATE TABLE nodes (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES nodes ON UPDATE CASCADE)")
        try await replicas[0].sql("INSERT INTO nodes (parent) VALUES (1)")
        try await replicas[0].sql("INSERT INTO nodes (id, parent) VALUES (7, 7); UPDATE nodes SET id = 8 WHERE id = 7")
        let rows = try await replicas[0].rows("SELECT id = parent FROM nodes")
        #expect(rows == [[.integer(1)], [.integer(1)]])
        try await syncAll(replicas)
        try await expectConverged(replicas)
        #expect(try await replicas[1].rows("SELECT count(*) FROM nodes WHERE id = parent") == [[.integer(2)]])
    }

    /// As in SQLite (recursive triggers off), the row REPLACE removes fires
    /// no DELETE trigger; a DELETE statement, and a DELETE in a trigger
    /// body, do.
    @Test func rowsThatReplaceRemovesFireNoDeleteTrigger() async throws {
        let replica = try TestReplica()
        try await replica.sql("CREATE TABLE items (id TEXT PRIMARY KEY, n INTEGER)")
        try await replica.sql("CREATE TABLE gone (id TEXT PRIMARY KEY, n INTEGER)")
        try await replica.sql("CREATE TRIGGER logged AFTER DELETE ON items BEGIN INSERT OR REPLACE INTO gone VALUES (OLD.id, OLD.n); END")
        try await replica.sql("CREATE TRIGGER moved AFTER INSERT ON gone BEGIN DELETE FROM items WHERE id = 'a'; END")
        try await replica.sql("INSERT INTO items VALUES ('a', 1), ('b', 2)")
        try await replica.sql("INSERT OR REPLACE INTO items VALUES ('a', 10)")
        try await replica.sql("UPDATE OR REPLACE items SET id = 'a' WHERE id = 'b'")
        #expect(try await replica.rows("SELECT count(*) FROM gone") == [[.integer(0)]])
        try await replica.sql("INSERT INTO items VALUES ('c', 3)")
        try await replica.sql("DELETE FROM items WHERE id = 'c'")
        // 'c' goes by DELETE and is logged; the log's trigger deletes 'a',
        // which does not fire `logged` again: it is running.
        #expect(try await replica.rows("SELECT id, n FROM gone ORDER BY id") == [[.text("c"), .integer(3)]])
        #expect(try await replica.rows("SELECT count(*) FROM items") == [[.integer(0)]])
        #expect(try await replica.store.verify().problems == [])
    }

    /// SQLite converts a parent key in place when it looks for children
    /// through an index on a column of another affinity; the capture must
    /// still name the row by the key it has (text '-1', not the integer).
    @Test func aKeyConvertedByAForeignKeyCheckIsCapturedAsStored() async throws {
        let replicas = try (0..<2).map { _ in try TestReplica() }
        try await replicas[0].sql("CREATE TABLE codes (code TEXT, qty INT, PRIMARY KEY (qty, code)) WITHOUT ROWID, STRICT")
        try await replicas[0].sql("CREATE TABLE uses (id INTEGER PRIMARY KEY, ref ANY, n INTEGER, FOREIGN KEY (ref, n) REFERENCES codes (code, qty))")
        try await replicas[0].sql("CREATE INDEX uses_by_ref ON uses (ref)")
        try await replicas[0].sql("INSERT INTO codes VALUES (-1, 3), (-2, 3), ('x', 1)")
        try await replicas[0].sql("UPDATE codes SET qty = 4 WHERE code = '-2'")
        try await replicas[0].sql("DELETE FROM codes WHERE code = '-1'")
        #expect(try await replicas[0].rows("SELECT quote(code), qty FROM codes ORDER BY qty") == [
            [.text("'x'"), .integer(1)], [.text("'-2'"), .integer(4)],
        ])
        #expect(try await replicas[0].store.verify().problems == [])
        try await syncAll(replicas)
        try await expectConverged(replicas)
    }

    /// A view defined over a table this replica lacks, under the table's
    /// own name, refers to itself until the table arrives; then the table
    /// takes the name and every connection reads it.
    @Test func aViewThatNamedItselfGivesWayToTheTable() async throws {
        let replicas = try (0..<2).map { _ in try TestReplica() }
        try await replicas[0].sql("CREATE TABLE items (id TEXT PRIMARY KEY, n INTEGER)")
        try await replicas[0].sql("INSERT INTO items VALUES ('a', 1)")
        try await replicas[1].sql("CREATE VIEW Items AS SELECT * FROM items WHERE id IS NOT NULL")
        for _ in 0..<6 {
            await #expect(throws: P2PDBError.self) { try await replicas[1].rows("SELECT count(*) FROM items") }
        }
        await #expect(throws: P2PDBError.self) { try await replicas[1].sql("SELECT count(*) FROM items") }
        try await syncAll(replicas)
        #expect(try await replicas[1].store.execute([SQLRequest("SELECT count(*) FROM items")]).results.last?.rows == [[.integer(1)]])
        for _ in 0..<6 {
            #expect(try await replicas[1].rows("SELECT count(*) FROM items") == [[.integer(1)]])
        }
        try await replicas[1].sql("INSERT INTO items VALUES ('b', 2)")
        try await syncAll(replicas)
        try await expectConverged(replicas)
    }

    /// One index or view name defined concurrently over tables whose names
    /// differ only in Unicode normalisation: the definitions are two texts,
    /// and every replica keeps the same one.
    @Test func definitionsThatDifferInNormalisationOnlyStillConverge() async throws {
        let replicas = try (0..<2).map { _ in try TestReplica() }
        for (replica, name) in zip(replicas, ["caf\u{E9}", "cafe\u{301}"]) {
            try await replica.sql("CREATE TABLE \"\(name)\" (id INTEGER PRIMARY KEY, k TEXT)")
            try await replica.sql("CREATE INDEX t ON \"\(name)\" (k)")
            try await replica.sql("CREATE VIEW v AS SELECT k FROM \"\(name)\"")
        }
        try await syncAll(replicas)
        try await expectConverged(replicas)
        let schema = "SELECT type, name, CAST(sql AS BLOB) FROM sqlite_schema WHERE name IN ('t', 'v') ORDER BY name"
        #expect(try await replicas[0].rows(schema) == replicas[1].rows(schema))
    }
}
