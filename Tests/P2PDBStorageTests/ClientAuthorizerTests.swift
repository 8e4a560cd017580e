import P2PDBCore
import P2PDBStorage
import Testing

/// What a hostile client sends is refused while SQLite prepares it, before
/// a PRAGMA or function takes effect, and leaves no trace on any
/// connection: later reads, writes, imports and other clients' results are
/// as they were.
@Suite struct ClientAuthorizerTests {
    /// Statements of the security review (and their relatives) that must
    /// be refused, whichever path they take.
    static let refused = [
        "PRAGMA hard_heap_limit=100000", "PRAGMA soft_heap_limit=100000", "PRAGMA query_only=1", "PRAGMA locking_mode=EXCLUSIVE",
        "PRAGMA wal_autocheckpoint=0", "PRAGMA case_sensitive_like=1", "PRAGMA full_column_names=1", "PRAGMA temp_store_directory='/tmp'",
        "PRAGMA cache_size=1", "PRAGMA mmap_size=1000000", "PRAGMA threads=4", "PRAGMA busy_timeout=1", "PRAGMA trusted_schema=1",
        "PRAGMA reverse_unordered_selects=1", "PRAGMA main.query_only = 1", "SELECT * FROM pragma_query_only(1)",
        "SELECT * FROM pragma_case_sensitive_like(1)", "PRAGMA foreign_keys=ON", "PRAGMA recursive_triggers=OFF",
        "SELECT hex(fts3_tokenizer('simple'))", "SELECT sql FROM sqlite_stmt", "SELECT * FROM dbstat", "SELECT load_extension('x')",
        "SELECT * FROM _p2pdb_meta", "SELECT _p2pdb_trigger_step(1)", "SELECT _p2pdb_capture(1, 2, 3, 4)",
        "ATTACH ':memory:' AS other", "CREATE TEMP TABLE tt (a INTEGER PRIMARY KEY)", "CREATE VIRTUAL TABLE v USING fts4(body)",
        "ANALYZE", "ROLLBACK", "SAVEPOINT s",
    ]

    func shop() async throws -> TestReplica {
        let replica = try TestReplica()
        try await replica.sql("CREATE TABLE items (sku TEXT PRIMARY KEY, name TEXT, price REAL, stock COUNTER INTEGER NOT NULL DEFAULT 0)")
        try await replica.sql("INSERT INTO items VALUES ('apple', 'Apple', 0.5, 100), ('pear', 'Pear', 0.7, 50)")
        return replica
    }

    @Test func refusedStatementsLeaveNoTrace() async throws {
        let replica = try await shop()
        let before = replica.stateHash
        let rows = try await replica.rows("SELECT * FROM items ORDER BY sku")
        for sql in Self.refused {
            await #expect(throws: P2PDBError.self, "\(sql) through a write") { try await replica.sql(sql) }
            await #expect(throws: P2PDBError.self, "\(sql) after a write in one transaction") {
                try await replica.store.execute([SQLRequest("UPDATE items SET name = name WHERE 0"), SQLRequest(sql)])
            }
            await #expect(throws: P2PDBError.self, "\(sql) through a read") { _ = try await replica.store.query(SQLRequest(sql)) }
        }
        // Accepted, and must leave nothing behind either.
        _ = try await replica.store.execute([SQLRequest("EXPLAIN UPDATE items SET name = 'x'")])
        _ = try await replica.store.execute([SQLRequest("EXPLAIN QUERY PLAN DELETE FROM items")])
        #expect(replica.stateHash == before)

        // Every reader connection, and the writer, behave as before.
        for _ in 0..<8 {
            #expect(try await replica.rows("SELECT * FROM items ORDER BY sku") == rows)
            #expect(try await replica.rows("SELECT 'a' LIKE 'A', length(hex(randomblob(100000)))") == [[.integer(1), .integer(200_000)]])
            let named = try await replica.store.query(SQLRequest("SELECT items.sku FROM items LIMIT 1"))
            #expect(named.last?.columns == ["sku"])
        }
        let inTransaction = try await replica.store.execute([SQLRequest("SELECT 'a' LIKE 'A'")])
        #expect(inTransaction.results.last?.rows == [[.integer(1)]])
        for round in 0..<3 {
            try await replica.sql("INSERT INTO items VALUES (?, 'Kiwi', 1, 1)", [.text("kiwi\(round)")])
        }
        let other = try TestReplica()
        try await replica.send(to: other)
        try await other.sql("UPDATE items SET stock = stock - 1 WHERE sku = 'apple'")
        try await other.send(to: replica)
        #expect(try await replica.rows("SELECT stock FROM items WHERE sku = 'apple'") == [[.integer(99)]])
        #expect(try await replica.store.verify().problems == [])
    }

    /// SQLite's TCL-style parameters (`$a(...)`) hide text from a tokenizer;
    /// the authorizer sees the tables SQLite resolved.
    @Test func internalTablesStayUnreadableBehindOddParameters() async throws {
        let replica = try await shop()
        for sql in [
            "SELECT $a('), key, value FROM _p2pdb_meta -- '", "SELECT :b('), * FROM _p2pdb_entries -- '",
            "SELECT @c('), count(*) FROM \"_P2PDB_ROWS\" -- '",
        ] {
            await #expect(throws: P2PDBError.self, "\(sql)") { _ = try await replica.store.query(SQLRequest(sql, [.null])) }
            await #expect(throws: P2PDBError.self, "\(sql)") { try await replica.sql(sql, [.null]) }
        }
    }

    /// A refusal says what was refused.
    @Test func refusalsNameTheirReason() async throws {
        let replica = try await shop()
        for (sql, words) in [
            ("PRAGMA query_only=1", "query_only"), ("SELECT * FROM pragma_cache_size", "cache_size"), ("SELECT sql FROM sqlite_stmt", "sqlite_stmt"),
            ("SELECT hex(fts3_tokenizer('simple'))", "fts3_tokenizer"),
        ] {
            do {
                _ = try await replica.store.query(SQLRequest(sql))
                Issue.record("\(sql) was accepted")
            } catch let error as P2PDBError {
                #expect(error.kind == .refused && error.message.contains(words), "\(sql): \(error.kind) \(error.message)")
            }
        }
        // Reading the schema stays possible: tools list tables that way.
        #expect(try await replica.rows("SELECT name FROM sqlite_schema WHERE name = 'items'") == [[.text("items")]])
        #expect(try await replica.rows("SELECT count(*) FROM pragma_table_info('items')") == [[.integer(4)]])
        #expect(try await replica.rows("PRAGMA user_version") == [[.integer(0)]])
        _ = try await replica.rows("PRAGMA index_list(items)")
        await #expect(throws: P2PDBError.self) { try await replica.rows("PRAGMA user_version = 7") }
    }

    /// SQL is whole or refused: nothing after a NUL is dropped silently.
    @Test func sqlWithANulIsRefusedWhole() async throws {
        let replica = try await shop()
        let before = replica.stateHash
        let sql = "INSERT INTO items (sku) VALUES ('n1')\u{0}; INSERT INTO items (sku) VALUES ('n2')"
        await #expect(throws: P2PDBError.self) { try await replica.sql(sql) }
        await #expect(throws: P2PDBError.self) { _ = try await replica.store.query(SQLRequest("SELECT 1\u{0}; SELECT 2")) }
        #expect(replica.stateHash == before)
        try await replica.sql("INSERT INTO items (sku, name) VALUES (?, ?)", [.text("n\u{0}1"), .text("a\u{0}b")])
        #expect(try await replica.rows("SELECT length(CAST(name AS BLOB)) FROM items WHERE sku = ?", [.text("n\u{0}1")]) == [[.integer(3)]])
    }
}
