import P2PDBCore
import P2PDBStorage
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
