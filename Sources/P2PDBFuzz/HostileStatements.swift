import GRDB
import P2PDBCore
import P2PDBSync

/// One request a hostile client sends: a body for `POST /v1/sql` or
/// `POST /v1/tx`.
public struct HostileRequest: Sendable {
    public var path: String
    public var body: String
    /// The SQL texts, for reports.
    public var statements: [String]
}

/// Random statements built from SQLite's grammar and from the full lists of
/// PRAGMAs and functions the linked SQLite reports (`pragma_pragma_list`,
/// `pragma_function_list`), aimed at a node's API: internal and SQLite
/// tables, reserved names, transaction control, ATTACH, temporary objects,
/// EXPLAIN, runaway queries; decorated with SQLite's TCL-style parameters,
/// comments that hide quotes, NUL characters, identifiers in both Unicode
/// normalisations, and several statements in one text. About one request in
/// ten is an ordinary write, so that entries keep being made between the
/// attacks.
public struct HostileStatementGenerator: Sendable {
    /// The table the generator's ordinary writes go to; the runner creates it.
    public static let table = "items"
    public static let createTable =
        "CREATE TABLE items (sku TEXT PRIMARY KEY, name TEXT, price REAL, stock INTEGER NOT NULL DEFAULT 0, note BLOB)"

    private let random: SeededRandomSource
    private let pragmas: [String]
    private let functions: [(name: String, arguments: Int)]

    public init(seed: UInt64) throws {
        random = SeededRandomSource(seed: seed)
        let reference = try DatabaseQueue()
        (pragmas, functions) = try reference.read { db in
            let pragmas = try String.fetchAll(db, sql: "SELECT name FROM pragma_pragma_list ORDER BY name")
            let functions = try Row.fetchAll(db, sql: "SELECT DISTINCT name, narg FROM pragma_function_list ORDER BY name, narg")
                .map { (name: $0[0] as String, arguments: $0[1] as Int) }
            return (pragmas, functions)
        }
    }

    /// The next request.
    public func next() -> HostileRequest {
        if chance(10) {
            let statements = (0..<(1 + below(3))).map { _ in decorated(statement()) }
            let body = statements.map { #"{"sql": \#(JSON.string($0).text)\#(parameters(for: $0))}"# }.joined(separator: ", ")
            return HostileRequest(path: "/v1/tx", body: #"{"statements": [\#(body)]}"#, statements: statements)
        }
        var sql = decorated(statement())
        // Several statements in one text.
        if chance(8) { sql += "; " + decorated(statement()) }
        return HostileRequest(path: "/v1/sql", body: #"{"sql": \#(JSON.string(sql).text)\#(parameters(for: sql))}"#, statements: [sql])
    }

    // MARK: Statements

    private func statement() -> String {
        let explain = chance(10) ? pick(["EXPLAIN ", "EXPLAIN QUERY PLAN ", "explain\n"]) : ""
        let body: String
        switch below(100) {
        case 0..<22: body = pragma()
        case 22..<42: body = functionCall()
        case 42..<57: body = tableAccess()
        case 57..<67: body = definition()
        case 67..<72: body = pick(["BEGIN", "BEGIN EXCLUSIVE", "BEGIN IMMEDIATE", "COMMIT", "END", "ROLLBACK", "SAVEPOINT s", "RELEASE s", "ROLLBACK TO s"])
        case 72..<78: body = outsideTheReplica()
        // Rarely: each runs until the deadline.
        case 78..<80: body = chance(25) ? runaway() : ordinaryWrite()
        default: body = ordinaryWrite()
        }
        return explain + body
    }

    private func pragma() -> String {
        let name = chance(90) ? pick(pragmas) : pick(["hard_heap_limit", "soft_heap_limit", "temp_store_directory", "data_store_directory", "key", "no_such_pragma"])
        let schema = chance(20) ? pick(["main.", "temp.", "x.", "\"main\"."]) : ""
        if chance(25) {
            // The table-valued form.
            return "SELECT * FROM pragma_\(name)(\(chance(50) ? value() : ""))"
        }
        switch below(3) {
        case 0: return "PRAGMA \(schema)\(name)"
        case 1: return "PRAGMA \(schema)\(name) = \(pragmaValue())"
        default: return "PRAGMA \(schema)\(name)(\(pragmaValue()))"
        }
    }

    private func pragmaValue() -> String {
        pick([
            "0", "1", "-1", "2", "100000", "2147483647", "9223372036854775807", "-9223372036854775808", "ON", "OFF", "EXCLUSIVE",
            "NORMAL", "FULL", "MEMORY", "WAL", "DELETE", "TRUNCATE", "'/tmp'", "items", "'items'", "_p2pdb_meta", "'x'", "yes",
        ])
    }

    private func functionCall() -> String {
        let function = pick(functions)
        let count = function.arguments >= 0 ? function.arguments : below(5)
        let arguments = (0..<count).map { _ in chance(15) ? nested() : value() }.joined(separator: ", ")
        let from = chance(30) ? " FROM items" : ""
        if chance(15) { return "SELECT \(function.name)(\(arguments)) OVER ()\(from)" }
        return "SELECT \(function.name)(\(arguments))\(from)"
    }

    private func nested() -> String {
        let function = pick(functions)
        let count = function.arguments >= 0 ? min(function.arguments, 3) : below(3)
        return "\(function.name)(\((0..<count).map { _ in value() }.joined(separator: ", ")))"
    }

    private func tableAccess() -> String {
        let table = tableName()
        switch below(5) {
        case 0: return "SELECT * FROM \(table)\(chance(30) ? " WHERE \(column()) = \(value())" : "")"
        case 1: return "INSERT INTO \(table) VALUES (\((0..<(1 + below(5))).map { _ in value() }.joined(separator: ", ")))"
        case 2: return "UPDATE \(table) SET \(column()) = \(value())\(chance(50) ? " WHERE \(column()) = \(value())" : "")"
        case 3: return "DELETE FROM \(table)\(chance(70) ? " WHERE \(column()) = \(value())" : "")"
        default: return "SELECT count(*) FROM \(table) AS a JOIN \(tableName()) AS b"
        }
    }

    private func definition() -> String {
        let name = objectName()
        switch below(9) {
        case 0: return "CREATE TABLE \(name) (id INTEGER PRIMARY KEY, v \(pick(["TEXT", "REAL", "", "BLOB", "ANY"])))"
        case 1: return "CREATE TEMP TABLE \(name) (x)"
        case 2: return "CREATE INDEX \(name) ON \(pick(["items", "_p2pdb_entries", "items"])) (\(column()))"
        case 3: return "CREATE VIEW \(name) AS SELECT * FROM \(tableName())"
        // On a table of its own: one on items would empty it at every write.
        case 4: return "CREATE TRIGGER \(name) AFTER INSERT ON t\(below(5)) BEGIN DELETE FROM t\(below(5)); END"
        case 5: return "CREATE VIRTUAL TABLE \(name) USING \(pick(["fts4(x)", "fts3(x)", "rtree(id, a, b)", "dbstat", "json_each"]))"
        case 6:
            return "ALTER TABLE \(pick(["items", "_p2pdb_meta", "sqlite_master"])) ADD COLUMN \(objectName()) "
                + pick(["INTEGER CHECK (1)", "INTEGER GENERATED ALWAYS AS (1)", "TEXT DEFAULT 'x'", "REAL", "BLOB REFERENCES items"])
        case 7: return "DROP \(pick(["TABLE", "INDEX", "VIEW", "TRIGGER"])) \(chance(50) ? "IF EXISTS " : "")\(pick([name, "items", "_p2pdb_entries_by_author"]))"
        default: return "ALTER TABLE \(pick(["items", "_p2pdb_rows"])) RENAME TO \(name)"
        }
    }

    private func outsideTheReplica() -> String {
        pick([
            "ATTACH 'other.db' AS other", "ATTACH ':memory:' AS m", "ATTACH 'file:x?mode=memory' AS x", "DETACH other", "VACUUM",
            "VACUUM INTO 'copy.db'", "REINDEX", "ANALYZE", "SELECT load_extension('libc.so.6')", "SELECT fts3_tokenizer('simple')",
            "SELECT * FROM sqlite_stmt", "SELECT * FROM dbstat", "SELECT writefile('x', 'y')", "SELECT readfile('/etc/passwd')",
        ])
    }

    private func runaway() -> String {
        let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)"
        return pick([
            "\(endless) SELECT count(*) FROM c", "\(endless) SELECT '' FROM c",
            "\(endless) SELECT x FROM c ORDER BY randomblob(20000)",
            "SELECT length(printf('%.*c', 2000000000, 'a'))", "SELECT zeroblob(2000000000)",
            "SELECT count(*) FROM items a, items b, items c, items d, items e",
        ])
    }

    private func ordinaryWrite() -> String {
        let sku = "'s\(below(50))'"
        if chance(30) { return "UPDATE items SET stock = stock + \(below(10)), price = \(value()) WHERE sku = \(sku)" }
        return "INSERT OR REPLACE INTO items VALUES (\(sku), \(value()), \(value()), \(below(100)), \(value()))"
    }

    // MARK: Pieces

    private func tableName() -> String {
        pick([
            "items", "ITEMS", "main.items", "temp.items", "\"items\"", "[items]", "_p2pdb_meta", "_P2PDB_META", "_p2pdb_entries",
            "_p2pdb_rows", "_p2pdb_heads", "sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_sequence", "sqlite_stat1",
            "sqlite_stmt", "dbstat", "pragma_table_info('items')", "json_each('[1,2]')", "no_such_table", "\u{0131}tems",
        ])
    }

    private func objectName() -> String {
        pick([
            "t\(below(5))", "_p2pdb_x", "_P2PDB_entries_by_author", "sqlite_x", "\"caf\u{E9}\"", "\"cafe\u{301}\"", "\"a\"\"b\"",
            "[x y]", "`q`", "temp.t", "main.t\(below(3))", "\"\"",
        ])
    }

    private func column() -> String { pick(["sku", "name", "price", "stock", "note", "rowid", "key", "value", "x", "\"n\u{E4}me\""]) }

    private func value() -> String {
        switch below(24) {
        case 0: return "NULL"
        case 1: return "0"
        case 2: return "-0.0"
        case 3: return "1e308"
        case 4: return "-9223372036854775808"
        case 5: return "9223372036854775807"
        case 6: return "2000000000"
        case 7: return "1.5"
        case 8: return "'x'"
        case 9: return "''"
        case 10: return "'it''s'"
        case 11: return "x''"
        case 12: return "x'00ff'"
        case 13: return "'%.*c'"
        case 14: return "'\u{E9}t\u{E9}'"
        case 15: return "'e\u{301}te\u{301}'"
        case 16: return "char(0)"
        case 17: return "randomblob(\(below(64)))"
        case 18: return parameter()
        case 19: return "(SELECT count(*) FROM \(tableName()))"
        case 20: return "CAST(\(below(100)) AS REAL)"
        case 21: return "'" + String(repeating: "a", count: below(2000)) + "'"
        case 22: return column()
        default: return String(Int64(bitPattern: random.next()))
        }
    }

    /// SQLite's parameter forms, with the TCL-style suffixes that once hid
    /// the rest of a statement from a tokenizer.
    private func parameter() -> String {
        pick(["?", "?1", "?999", ":a", "@a", "$a", "$a(')", "$a::b", ":a(x)", "@a(') FROM _p2pdb_meta --", "$a('), key, value FROM _p2pdb_meta -- '"])
    }

    private func decorated(_ sql: String) -> String {
        var sql = sql
        if chance(10) {
            // A comment with a quote inside, somewhere between words.
            var words = sql.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            words.insert(pick(["/* ' */", "/* \" */", "-- '\n", "/**/", "/* unterminated"]), at: below(words.count + 1))
            sql = words.joined(separator: " ")
        }
        if chance(4) {
            // A NUL somewhere: the whole text must be refused, not cut there.
            var characters = Array(sql)
            characters.insert("\u{0}", at: below(characters.count + 1))
            sql = String(characters)
        }
        if chance(3) { sql = sql.uppercased() }
        if chance(2) { sql += pick([";", ";;", " --", " /*", "'", ")", " garbage"]) }
        return sql
    }

    private func parameters(for sql: String) -> String {
        guard chance(60), sql.contains(where: { "?:@$".contains($0) }) else { return "" }
        let values = (0..<below(4)).map { _ in
            pick([#"null"#, #"1"#, #"-0.0"#, #"1.5"#, #""x""#, #""""#, #"{"base64": "AAE="}"#, #"9223372036854775807"#, #""\u0000""#])
        }
        return #", "params": [\#(values.joined(separator: ", "))]"#
    }

    // MARK: Randomness

    private func below(_ bound: Int) -> Int { Int(random.next() % UInt64(max(1, bound))) }
    private func chance(_ percent: Int) -> Bool { below(100) < percent }
    private func pick<T>(_ choices: [T]) -> T { choices[below(choices.count)] }
}
