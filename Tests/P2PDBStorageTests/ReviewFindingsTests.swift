import Foundation
import P2PDBCore
import P2PDBStorage
import Testing

/// One regression test per finding of the review of the replicated SQL
/// surface (December 2026), each as the review reproduced it: replicas
/// holding the same entries must hold the same rows, with the same storage
/// class, and the same state hash; `verify` passes on every replica; a
/// validly signed entry always applies; nothing traps.
@Suite("Review of the SQL surface")
struct ReviewFindingsTests {
    /// Moves everything `source` holds to `target` as a bundle file would.
    static func bundle(_ source: TestReplica, _ target: TestReplica) async throws {
        let (bytes, _) = try await source.store.exportBundle()
        _ = try await target.store.importBundle(bytes)
    }

    /// Rows of a table as (value, storage class) pairs, in key order.
    static func typedRows(_ replica: TestReplica, _ table: String) async throws -> [[String]] {
        try await replica.rows("SELECT * FROM \(SQLText.quoteIdentifier(table)) ORDER BY 1").map { row in row.map { "\($0.typeName):\($0)" } }
    }

    static func expectSame(_ replicas: [TestReplica], tables: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for table in tables {
            let reference = try await typedRows(replicas[0], table)
            for replica in replicas.dropFirst() {
                #expect(try await typedRows(replica, table) == reference, "\(table)", sourceLocation: sourceLocation)
            }
        }
        for replica in replicas {
            #expect(replica.stateHash == replicas[0].stateHash, sourceLocation: sourceLocation)
            let problems = try await replica.store.verify().problems
            #expect(problems == [], sourceLocation: sourceLocation)
        }
    }

    /// Two replicas, the first with the smaller node ID (its concurrent
    /// schema change wins at equal clocks).
    static func orderedPair() throws -> (small: TestReplica, large: TestReplica) {
        let a = try TestReplica()
        let b = try TestReplica()
        return a.key.nodeID < b.key.nodeID ? (a, b) : (b, a)
    }

    // 1
    @Test func wholeNumberInARealColumnIsARealEverywhere() async throws {
        let (a, b) = (try TestReplica(), try TestReplica())
        try await a.sql("CREATE TABLE items (sku TEXT PRIMARY KEY, price REAL)")
        try await a.sql("INSERT INTO items VALUES ('apple', 1.0), ('pear', ?), ('plum', 2)", [.integer(3)])
        try await Self.bundle(a, b)
        #expect(try await a.rows("SELECT typeof(price) FROM items") == [["real"], ["real"], ["real"]])
        try await Self.expectSame([a, b], tables: ["items"])
    }

    // 2
    @Test func realKeysKeepOneIdentity() async throws {
        let (a, b) = (try TestReplica(), try TestReplica())
        try await a.sql("CREATE TABLE r (t REAL PRIMARY KEY, v TEXT)")
        try await a.sql("INSERT INTO r VALUES (1.0, 'x'), (2.5, 'y'), (3, 'z')")
        try await Self.bundle(a, b)
        try await a.sql("DELETE FROM r WHERE t = 1.0")
        try await a.sql("UPDATE r SET v = 'c' WHERE t = 3")
        try await Self.bundle(a, b)
        #expect(try await b.rows("SELECT t, v FROM r ORDER BY t") == [[.real(2.5), .text("y")], [.real(3), .text("c")]])
        try await Self.expectSame([a, b], tables: ["r"])
        // Integers a double cannot hold would read back as another key.
        await #expect(throws: P2PDBError.self) { try await a.sql("INSERT INTO r VALUES (9007199254740993, 'big'), (9007199254740992, 'big')") }
    }

    // 3
    @Test func withoutRowIDUpdatesStayUpdates() async throws {
        let (a, b) = (try TestReplica(), try TestReplica())
        try await a.sql("CREATE TABLE w (r REAL, k INTEGER, a INTEGER, PRIMARY KEY (k)) WITHOUT ROWID")
        try await a.sql("INSERT INTO w VALUES (2.5, 5, 7)")
        try await Self.bundle(a, b)
        try await a.sql("UPDATE w SET a = 8 WHERE k = 5")
        try await b.sql("UPDATE w SET r = 9.5 WHERE k = 5")
        try await Self.bundle(a, b)
        try await Self.bundle(b, a)
        for replica in [a, b] { #expect(try await replica.rows("SELECT * FROM w") == [[.real(9.5), .integer(5), .integer(8)]]) }
        // An integer key beyond 2^53 next to a REAL column survives updates.
        try await a.sql("INSERT INTO w VALUES (1.5, 9007199254740993, 1)")
        try await a.sql("UPDATE w SET a = 2 WHERE k = 9007199254740993")
        try await a.sql("DELETE FROM w WHERE k = 9007199254740993")
        try await Self.bundle(a, b)
        try await Self.expectSame([a, b], tables: ["w"])
    }

    // 4
    @Test func extremeDefaultsDoNotTrap() async throws {
        let (a, b) = (try TestReplica(), try TestReplica())
        for (index, literal) in ["-0x8000000000000000", "-9223372036854775808", "0x7fffffffffffffff", "-0.0", "1e308", "9223372036854775808"].enumerated() {
            try await a.sql("CREATE TABLE t\(index) (id INTEGER PRIMARY KEY, v INTEGER DEFAULT \(literal), r REAL DEFAULT \(literal))")
            _ = try? await a.sql("INSERT INTO t\(index) (id) VALUES (1)")
        }
        try await Self.bundle(a, b)
        try await Self.expectSame([a, b], tables: (0..<6).map { "t\($0)" })
    }

    // 5
    @Test func ddlTheFormatCannotCarryIsRefusedBeforeItCommits() async throws {
        let a = try TestReplica()
        for sql in [
            "CREATE TABLE t (id INTEGER PRIMARY KEY, \"\" TEXT)",
            "CREATE TABLE \"\(String(repeating: "x", count: 1025))\" (id INTEGER PRIMARY KEY)",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, \"\(String(repeating: "y", count: 1025))\" TEXT)",
        ] {
            await #expect(throws: P2PDBError.self) { try await a.sql(sql) }
        }
        // NFC and NFD spellings are two columns to SQLite, and replicate so.
        try await a.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, \"caf\u{E9}\" TEXT, \"cafe\u{301}\" TEXT)")
        try await a.sql("INSERT INTO t VALUES (1, 'nfc', 'nfd')")
        #expect(try await a.rows("SELECT 1") == [[.integer(1)]])
        let b = try TestReplica()
        try await Self.bundle(a, b)
        try await Self.expectSame([a, b], tables: ["t"])
    }

    // 6
    @Test func unicodeEquivalentTableNamesAreTwoTables() async throws {
        let (a, b) = (try TestReplica(), try TestReplica())
        try await a.sql("CREATE TABLE \"caf\u{E9}\" (id INTEGER PRIMARY KEY, v TEXT)")
        try await a.sql("INSERT INTO \"caf\u{E9}\" VALUES (1, 'nfc')")
        try await b.sql("CREATE TABLE \"cafe\u{301}\" (id INTEGER PRIMARY KEY, v TEXT)")
        try await b.sql("INSERT INTO \"cafe\u{301}\" VALUES (1, 'nfd')")
        try await Self.bundle(a, b)
        try await Self.bundle(b, a)
        try await Self.expectSame([a, b], tables: ["caf\u{E9}", "cafe\u{301}"])
        #expect(try await a.rows("SELECT v FROM \"cafe\u{301}\"") == [[.text("nfd")]])
    }

    /// Found by the surface generator: the merge's UPDATE of one column came
    /// from GRDB's statement cache, which takes the NFC and NFD spellings of
    /// one SQL text for the same statement, so a change to `café` (NFC)
    /// was written into `café` (NFD).
    @Test func unicodeEquivalentColumnsChangeApart() async throws {
        let (a, b) = (try TestReplica(), try TestReplica())
        try await a.sql(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, \"cafe\u{301}\" COUNTER INTEGER NOT NULL DEFAULT 0, \"caf\u{E9}\" COUNTER INTEGER NOT NULL DEFAULT 0, \"n\u{303}\" TEXT, \"\u{F1}\" TEXT)")
        try await a.sql("INSERT INTO t VALUES (1, -2, -2, 'nfd', 'nfc')")
        try await Self.bundle(a, b)
        try await a.sql("UPDATE t SET \"cafe\u{301}\" = \"cafe\u{301}\" - 1, \"n\u{303}\" = 'nfd2'")
        try await a.sql("UPDATE t SET \"caf\u{E9}\" = \"caf\u{E9}\" + 8, \"\u{F1}\" = 'nfc2'")
        try await Self.bundle(a, b)
        #expect(try await b.rows("SELECT \"cafe\u{301}\", \"caf\u{E9}\", \"n\u{303}\", \"\u{F1}\" FROM t") == [[.integer(-3), .integer(6), .text("nfd2"), .text("nfc2")]])
        try await Self.expectSame([a, b], tables: ["t"])
    }

    /// Found by the surface generator: a transaction that repeats one SQL
    /// text reuses its prepared statement, and the comparison took the NFC
    /// and NFD spellings of a query for one text.
    @Test func unicodeEquivalentQueriesInOneTransactionReadTheirOwnTables() async throws {
        let a = try TestReplica()
        try await a.sql("CREATE TABLE \"caf\u{E9}\" (id INTEGER PRIMARY KEY, v TEXT)")
        try await a.sql("CREATE TABLE \"cafe\u{301}\" (id INTEGER PRIMARY KEY, v TEXT)")
        try await a.sql("INSERT INTO \"caf\u{E9}\" VALUES (1, 'nfc')")
        let result = try await a.store.execute([
            SQLRequest("SELECT v FROM \"cafe\u{301}\""), SQLRequest("SELECT v FROM \"caf\u{E9}\""),
            SQLRequest("INSERT INTO \"caf\u{E9}\" VALUES (2, 'written')"),
        ])
        #expect(result.results.map(\.rows) == [[], [[.text("nfc")]], []])
    }

    // 7
    @Test func aTableTakesTheNameOfAConcurrentIndex() async throws {
        let (a, b) = (try TestReplica(), try TestReplica())
        try await a.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)")
        try await a.sql("CREATE INDEX foo ON t (a)")
        try await b.sql("CREATE TABLE foo (id INTEGER PRIMARY KEY, x TEXT)")
        try await b.sql("INSERT INTO foo VALUES (1, 'kept')")
        try await Self.bundle(a, b)
        try await Self.bundle(b, a)
        try await Self.expectSame([a, b], tables: ["t", "foo"])
        #expect(try await a.rows("SELECT x FROM foo") == [[.text("kept")]])
    }

    // 8
    @Test func counterWithADefaultFromAConcurrentTable() async throws {
        let (a, b) = (try TestReplica(), try TestReplica())
        try await a.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
        try await a.sql("INSERT INTO t VALUES (1, 'a')")
        try await b.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, hits COUNTER INTEGER NOT NULL DEFAULT 5)")
        try await b.sql("INSERT INTO t (id, name) VALUES (2, 'b')")
        try await Self.bundle(a, b)
        try await Self.bundle(b, a)
        try await Self.expectSame([a, b], tables: ["t"])
    }

    // 9
    @Test(arguments: [
        ("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)", "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO t VALUES (1, NULL)"),
        ("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER) STRICT", "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)", "INSERT INTO t VALUES (1, 'text')"),
        ("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", "CREATE TABLE t (id TEXT PRIMARY KEY, v TEXT)", "INSERT INTO t VALUES ('a', 'x'), ('7', 'y')"),
        ("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT) STRICT", "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, w VARCHAR(3))", "INSERT INTO t VALUES (1, 'x', 'y')"),
    ])
    func winningConstraintsMeetLosingRows(_ winner: String, _ loser: String, _ write: String) async throws {
        let (small, large) = try Self.orderedPair()
        try await small.sql(winner)
        try await large.sql(loser)
        try await large.sql(write)
        try await Self.bundle(large, small)
        try await Self.bundle(small, large)
        try await Self.expectSame([small, large], tables: ["t"])
    }

    // 10
    @Test func typelessKeysThatSQLiteComparesEqual() async throws {
        let (a, b) = (try TestReplica(), try TestReplica())
        try await a.sql("CREATE TABLE kv (k PRIMARY KEY, v TEXT)")
        try await Self.bundle(a, b)
        try await a.sql("INSERT INTO kv VALUES (1, 'a')")
        // 1.0 is key 1 to SQLite: written as a real it would be a second
        // spelling of one row.
        await #expect(throws: P2PDBError.self) { try await b.sql("INSERT INTO kv VALUES (1.0, 'b')") }
        await #expect(throws: P2PDBError.self) { try await b.sql("INSERT INTO kv VALUES (-0.0, 'b')") }
        try await b.sql("INSERT INTO kv VALUES (1, 'b'), (1.5, 'c')")
        // An entry that carries 1.0 anyway (an older or hostile author) merges as key 1.
        let stranger = NodeKey()
        let change = TableChanges(
            table: "kv", primaryKeyColumns: ["k"], columns: ["v"],
            rows: [RowChange(kind: .insert, causalLength: 1, primaryKey: [.real(1.0)], values: [ColumnValue(column: 0, value: .text("z"))])])
        let parents = Array(a.store.summary.heads)
        let entry = Entry.make(author: stranger, seq: 1, lamport: 1000, parents: parents, wallTime: 0, payload: EntryPayload(tableChanges: [change]))
        try await Self.bundle(a, b)
        try await Self.bundle(b, a)
        for replica in [a, b] { #expect(try await replica.store.apply([entry]).rejected.isEmpty) }
        try await Self.expectSame([a, b], tables: ["kv"])
        #expect(try await a.rows("SELECT k, v FROM kv WHERE k = 1") == [[.integer(1), .text("z")]])
    }

    // 11
    @Test func counterRealIsRefusedAndMergesAsAPlainColumn() async throws {
        let a = try TestReplica()
        await #expect(throws: P2PDBError.self) {
            try await a.sql("CREATE TABLE cr (id INTEGER PRIMARY KEY, hits COUNTER REAL NOT NULL DEFAULT 0)")
        }
        // Entries that declare one (an older author) merge the same in any order.
        let author = NodeKey()
        let table = TableDefinition(
            name: "cr", columns: [ColumnDefinition(name: "id", declaredType: "INTEGER"), ColumnDefinition(name: "hits", declaredType: "COUNTER REAL", notNull: true, defaultSQL: "0")],
            primaryKey: ["id"])
        let create = Entry.make(author: author, seq: 1, lamport: 1, parents: [], wallTime: 0, payload: EntryPayload(schemaChanges: [.createTable(table)]))
        func insert(_ key: NodeKey, _ value: Int64) -> Entry {
            Entry.make(
                author: key, seq: 1, lamport: 2, parents: [create.id], wallTime: 0,
                payload: EntryPayload(tableChanges: [
                    TableChanges(table: "cr", primaryKeyColumns: ["id"], columns: ["hits"], rows: [RowChange(kind: .insert, causalLength: 1, primaryKey: [.integer(1)], deltas: [ColumnDelta(column: 0, delta: value)])])
                ]))
        }
        let (five, three) = (insert(NodeKey(), 5), insert(NodeKey(), 3))
        let replicas = try (0..<3).map { _ in try TestReplica() }
        _ = try await replicas[0].store.apply([create, five, three])
        _ = try await replicas[1].store.apply([create, three, five])
        _ = try await replicas[2].store.apply([create])
        _ = try await replicas[2].store.apply([five])
        _ = try await replicas[2].store.apply([three])
        try await Self.expectSame(replicas, tables: ["cr"])
    }

    // 12
    @Test func equivocatingAuthorWithAWholeNumberReal() async throws {
        let key = NodeKey()
        let (a, a2) = (try TestReplica(key: key), try TestReplica(key: key))
        let (b, c) = (try TestReplica(), try TestReplica())
        try await a.sql("CREATE TABLE m (id INTEGER PRIMARY KEY, v REAL)")
        for replica in [a2, b, c] { try await Self.bundle(a, replica) }
        try await a.sql("INSERT INTO m VALUES (1, 1.0)")
        try await a2.sql("INSERT INTO m VALUES (1, 0.5)")
        let (first, second) = (try await a.entries().last!, try await a2.entries().last!)
        _ = try await b.store.apply([first])
        _ = try await b.store.apply([second])
        _ = try await c.store.apply([second])
        _ = try await c.store.apply([first])
        try await Self.expectSame([b, c], tables: ["m"])
    }

    // 13
    @Test func strictAnyDefaultIsStoredAsGiven() async throws {
        let (a, b) = (try TestReplica(), try TestReplica())
        try await a.sql("CREATE TABLE s (id INTEGER PRIMARY KEY, v TEXT) STRICT")
        try await a.sql("INSERT INTO s VALUES (1, 'x')")
        try await Self.bundle(a, b)
        try await a.sql("ALTER TABLE s ADD COLUMN c ANY DEFAULT '5'")
        try await a.sql("INSERT INTO s (id, v) VALUES (2, 'y')")
        try await Self.bundle(a, b)
        #expect(try await a.rows("SELECT typeof(c) FROM s") == [["text"], ["text"]])
        try await Self.expectSame([a, b], tables: ["s"])
    }

    // 14
    @Test func moreHeadsThanAnEntryCanNameAreMergedInSteps() async throws {
        let a = try TestReplica()
        try await a.sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        let root = try #require(a.store.summary.heads.first)
        let strangers = (0..<(EntryCodec.maximumParents + 4)).map { _ in
            Entry.make(author: NodeKey(), seq: 1, lamport: 2, parents: [root], wallTime: 0, payload: EntryPayload())
        }
        #expect(try await a.store.apply(strangers).rejected.isEmpty)
        let result = try await a.sql("INSERT INTO t VALUES (1)")
        #expect(result.entry != nil)
        #expect(a.store.summary.heads.count == 1)
        let b = try TestReplica()
        try await Self.bundle(a, b)
        try await Self.expectSame([a, b], tables: ["t"])
    }

    // 15
    @Test func autoincrementIsAcceptedOnEveryNode() async throws {
        for _ in 0..<8 {
            let a = try TestReplica()
            try await a.sql("CREATE TABLE s (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT)")
            try await a.sql("INSERT INTO s (v) VALUES ('x')")
            #expect(try await a.store.verify().problems == [])
        }
    }

    // 16
    @Test func constraintsThatAlterTableWouldDropAreRefused() async throws {
        let a = try TestReplica()
        try await a.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        for sql in [
            "ALTER TABLE t ADD COLUMN c INTEGER CHECK (c > 0)",
            "ALTER TABLE t ADD COLUMN g INTEGER GENERATED ALWAYS AS (id * 2)",
            "ALTER TABLE t ADD COLUMN r INTEGER REFERENCES t(id)",
            "CREATE TABLE temp.tt (id INTEGER PRIMARY KEY)",
            "CREATE TABLE d (id INTEGER PRIMARY KEY DESC, v TEXT)",
            "CREATE TABLE d (id INTEGER PRIMARY KEY DESC, v TEXT) WITHOUT ROWID",
            "CREATE TABLE d (a TEXT, b INTEGER, PRIMARY KEY (a, b DESC))",
        ] {
            await #expect(throws: P2PDBError.self, "\(sql)") { try await a.sql(sql) }
        }
        #expect(try await a.rows("SELECT count(*) FROM pragma_table_info('t')") == [[.integer(2)]])
    }

    // 17
    @Test func entriesNamingReservedObjectsAreMalformed() throws {
        let key = NodeKey()
        for name in ["_p2pdb_extra", "_P2PDB_entries_by_author", "sqlite_x"] {
            let table = Entry.make(
                author: key, seq: 1, lamport: 1, parents: [], wallTime: 0,
                payload: EntryPayload(schemaChanges: [
                    .createTable(TableDefinition(name: name, columns: [ColumnDefinition(name: "id", declaredType: "INTEGER")], primaryKey: ["id"]))
                ]))
            #expect(throws: EntryError.self) { try Entry(bytes: table.bytes) }
            let index = Entry.make(
                author: key, seq: 1, lamport: 1, parents: [], wallTime: 0,
                payload: EntryPayload(schemaChanges: [.createIndex(IndexDefinition(name: name, table: "t", columns: [.init(name: "id")]))]))
            #expect(throws: EntryError.self) { try Entry(bytes: index.bytes) }
        }
    }

    // Also seen: defaults reach REAL columns as integers.
    @Test func defaultsInRealColumnsAreReals() async throws {
        let (a, b) = (try TestReplica(), try TestReplica())
        try await a.sql("CREATE TABLE d (id INTEGER PRIMARY KEY, x REAL DEFAULT 1, y REAL DEFAULT TRUE, z REAL DEFAULT '2')")
        try await a.sql("INSERT INTO d (id) VALUES (1)")
        try await a.sql("ALTER TABLE d ADD COLUMN w REAL DEFAULT 2.0")
        try await a.sql("INSERT INTO d (id) VALUES (2)")
        try await a.sql("UPDATE d SET x = 5 WHERE id = 1")
        try await Self.bundle(a, b)
        #expect(try await a.rows("SELECT typeof(x), typeof(y), typeof(z), typeof(w) FROM d WHERE id = 1") == [["real", "real", "real", "real"]])
        try await Self.expectSame([a, b], tables: ["d"])
    }

    // Also seen: a remote column whose DEFAULT SQLite would not create.
    @Test func anEntryWhoseTableSQLiteCannotCreateIsRefused() async throws {
        let a = try TestReplica()
        let entry = Entry.make(
            author: NodeKey(), seq: 1, lamport: 1, parents: [], wallTime: 0,
            payload: EntryPayload(schemaChanges: [
                .createTable(TableDefinition(name: "t", columns: [ColumnDefinition(name: "id", declaredType: "INTEGER"), ColumnDefinition(name: "v", declaredType: "TEXT", defaultSQL: "(id)")], primaryKey: ["id"]))
            ]))
        let report = try await a.store.apply([entry])
        #expect(report.rejected.count == 1)
        #expect(try await a.store.verify().problems == [])
    }

    // Found by the surface generator (seed 104, case 18212): two rows of a
    // rowid table with a NULL text key in one transaction were one row to
    // the capture, and one of them never reached the entry.
    @Test func aNullKeyIsRefusedWhenItAppearsNotAtTheEnd() async throws {
        let a = try TestReplica()
        try await a.sql("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER, v TEXT)")
        let before = a.stateHash
        await #expect(throws: P2PDBError.self) {
            try await a.sql("INSERT INTO t (n) VALUES (0), (-1); UPDATE t SET k = 'x' WHERE n = -1")
        }
        #expect(a.stateHash == before)
        #expect(try await a.rows("SELECT count(*) FROM t") == [[.integer(0)]])
        #expect(try await a.store.verify().problems == [])
    }
}
