import P2PDB

/// Random tables, conflicting variants of them, indexes, added columns and
/// DDL that P2PDB is expected to refuse.
enum SchemaGenerator {
    static let types = [
        "INTEGER", "INT", "TEXT", "VARCHAR(10)", "REAL", "DOUBLE", "FLOAT", "NUMERIC", "DECIMAL(10,2)", "BOOLEAN", "DATE",
        "BLOB", "", "STRING", "ANY", "BIGINT", "DATETIME", "CHARACTER(20)", "DOUBLE PRECISION", "UNSIGNED BIG INT", "CLOB",
    ]
    static let strictTypes = ["INT", "INTEGER", "REAL", "TEXT", "BLOB", "ANY"]
    /// Literal defaults, extremes included. `-0x8000000000000000` is
    /// Int64.min written in hex, which SQLite takes.
    static let defaults = [
        "0", "1", "-1", "42", "-9223372036854775808", "0x7fffffffffffffff", "9223372036854775807", "-0.0", "0.5", "2.0",
        "1e308", "-1e-300", "''", "'x'", "'5'", "' 5 '", "x'00'", "x''", "TRUE", "FALSE", "NULL",
        SQLText.quoteString(SurfaceValues.nfc), "'2.0'",
    ]
    static let rareDefaults = ["-0x8000000000000000", "+7", "(-3)", "(1 + 1)", "CURRENT_DATE"]

    static func defaultSQL(_ random: inout CaseRandom) -> String {
        random.chance(0.03) ? random.pick(rareDefaults) : random.pick(defaults)
    }

    /// A counter column as users declare one, now and then with a twist.
    static func counter(named name: String, _ random: inout CaseRandom) -> ColumnDesign {
        switch random.below(100) {
        case 0..<10: return ColumnDesign(name: name, type: "COUNTER INTEGER", notNull: true, defaultSQL: "5")
        case 10..<20: return ColumnDesign(name: name, type: "COUNTER INTEGER", defaultSQL: "0")
        case 20..<24: return ColumnDesign(name: name, type: "COUNTER REAL", notNull: true, defaultSQL: "0")
        // Without a DEFAULT a counter starts at 0 in P2PDB and at NULL in
        // plain SQLite: declared with one, so differential cases compare.
        case 24..<27: return ColumnDesign(name: name, type: "COUNTER", defaultSQL: "0")
        default: return ColumnDesign(name: name, type: "COUNTER INTEGER", notNull: true, defaultSQL: "0")
        }
    }

    /// A new table named `name`.
    static func table(named name: String, _ random: inout CaseRandom) -> TableDesign {
        var design = TableDesign(name: name, columns: [])
        design.strict = random.chance(0.2)
        design.withoutRowID = random.chance(0.25)
        design.ifNotExists = random.chance(0.2)
        let names = columnNames(count: random.int(in: 2...5), &random)
        let pool = design.strict ? strictTypes : types
        for name in names {
            if !design.strict, random.chance(0.15) {
                design.columns.append(counter(named: name, &random))
                continue
            }
            var column = ColumnDesign(name: name, type: random.pick(pool))
            column.notNull = random.chance(0.2)
            if random.chance(0.35) { column.defaultSQL = defaultSQL(&random) }
            design.columns.append(column)
        }
        chooseKey(of: &design, &random)
        return design
    }

    /// Distinct names (as SQLite compares them), and now and then a pair
    /// SQLite takes as distinct that are the same text in another
    /// normalisation, or a name P2PDB may not carry.
    static func columnNames(count: Int, _ random: inout CaseRandom) -> [String] {
        var names: [String] = []
        // Swift strings: NFC and NFD count as one here; the pair comes below.
        var keys = Set<String>()
        while names.count < count {
            let name = random.chance(0.004) ? random.pick(SurfaceNames.odd) : random.pick(SurfaceNames.columns)
            if keys.insert(SQLText.key(name).text).inserted { names.append(name) }
        }
        if random.chance(0.03) {
            names.removeAll { $0 == SurfaceValues.nfc }
            names += [SurfaceValues.nfc, SurfaceValues.nfd]
        }
        names.shuffle(using: &random)
        return names
    }

    /// Declares the key: a rowid alias, one column of any type, or several
    /// columns in any order and position.
    private static func chooseKey(of design: inout TableDesign, _ random: inout CaseRandom) {
        let candidates = design.columns.indices.filter { !design.columns[$0].isCounter }
        guard let first = candidates.randomElement(using: &random) else {
            design.columns.append(ColumnDesign(name: "pk", type: "INTEGER", keyClause: "PRIMARY KEY"))
            return
        }
        switch random.below(10) {
        case 0...2:
            design.columns[first].type = "INTEGER"
            design.columns[first].keyClause =
                random.chance(0.1) ? "PRIMARY KEY DESC" : (!design.withoutRowID && random.chance(0.05) ? "PRIMARY KEY AUTOINCREMENT" : "PRIMARY KEY")
        case 3...5:
            design.columns[first].keyClause = random.chance(0.1) ? "PRIMARY KEY ASC" : "PRIMARY KEY"
        default:
            let count = min(candidates.count, random.int(in: 1...3))
            design.tableKey = Array(candidates.shuffled(using: &random).prefix(count)).map { design.columns[$0].name }
        }
    }

    /// Another definition of the same table, as a replica that does not yet
    /// know the first might create it: another type, NOT NULL, STRICT,
    /// another key, an extra column, a counter with a default; or the same.
    static func variant(of design: TableDesign, _ random: inout CaseRandom) -> TableDesign {
        var other = design
        let values = other.columns.indices.filter { !other.keyColumns.map(SurfaceNames.key).contains(SurfaceNames.key(other.columns[$0].name)) }
        switch random.below(8) {
        case 0 where !values.isEmpty:
            let index = random.pick(values)
            other.columns[index].type = random.pick(other.strict ? strictTypes : types)
        case 1 where !values.isEmpty:
            other.columns[random.pick(values)].notNull = true
        case 2:
            other.strict.toggle()
            if other.strict {
                for index in other.columns.indices where !strictTypes.contains(other.columns[index].type.uppercased()) {
                    other.columns[index].type = random.pick(strictTypes)
                }
            }
        case 3:
            let keys = Set(other.keyColumns.map(SurfaceNames.key))
            for index in other.columns.indices where keys.contains(SurfaceNames.key(other.columns[index].name)) {
                other.columns[index].type = random.pick(other.strict ? strictTypes : types)
            }
        case 4:
            let name = random.pick(SurfaceNames.columns)
            if other.column(name) == nil {
                other.columns.append(ColumnDesign(name: name, type: random.pick(other.strict ? strictTypes : types)))
            }
        case 5 where !other.strict:
            let name = random.pick(["hits", "Hits", "n"])
            if other.column(name) == nil {
                other.columns.append(ColumnDesign(name: name, type: "COUNTER INTEGER", notNull: true, defaultSQL: random.pick(["0", "5"])))
            }
        case 6:
            for index in other.columns.indices { other.columns[index].keyClause = nil }
            other.tableKey = []
            chooseKey(of: &other, &random)
        default:
            break
        }
        return other
    }

    /// `CREATE INDEX` on some columns of `table`; the name may be a table's
    /// on another replica. Sometimes a form P2PDB refuses.
    static func index(on table: TableDesign, _ random: inout CaseRandom) -> String {
        let name = SurfaceNames.sql(random.pick(SurfaceNames.indexes), &random)
        let count = min(table.columns.count, random.int(in: 1...2))
        let columns = table.columns.shuffled(using: &random).prefix(count).map { column -> String in
            SurfaceNames.sql(column.name, &random) + (random.chance(0.2) ? " DESC" : "")
        }
        var list = columns.joined(separator: ", ")
        var unique = ""
        var condition = ""
        switch random.below(20) {
        case 0: unique = "UNIQUE "
        case 1: condition = " WHERE " + SurfaceNames.sql(table.columns[0].name, &random) + " IS NOT NULL"
        case 2: list += " COLLATE NOCASE"
        case 3: list = "lower(" + list + ")"
        default: break
        }
        return "CREATE \(unique)INDEX " + (random.chance(0.2) ? "IF NOT EXISTS " : "") + name + " ON "
            + SurfaceNames.sql(table.name, &random) + " (" + list + ")" + condition
    }

    /// `ALTER TABLE ... ADD COLUMN` and the column it adds.
    static func addColumn(to table: TableDesign, _ random: inout CaseRandom) -> (sql: String, column: ColumnDesign) {
        let name = random.chance(0.004) ? random.pick(SurfaceNames.odd) : random.pick(SurfaceNames.columns + ["hits", "extra", "Z"])
        var column: ColumnDesign
        if !table.strict, random.chance(0.2) {
            column = ColumnDesign(name: name, type: "COUNTER INTEGER", notNull: random.chance(0.7), defaultSQL: random.chance(0.8) ? "0" : "3")
        } else {
            column = ColumnDesign(name: name, type: random.pick(table.strict ? strictTypes : types))
            if random.chance(0.5) { column.defaultSQL = defaultSQL(&random) }
            column.notNull = column.defaultSQL != nil && column.defaultSQL != "NULL" && random.chance(0.3)
            // Often broken: P2PDB must keep it, or refuse it, as it refuses CHECK in CREATE TABLE.
            if random.chance(0.2) { column.check = "CHECK (typeof(" + SurfaceNames.sql(name, &random) + ") <> 'text')" }
        }
        let sql = "ALTER TABLE " + SurfaceNames.sql(table.name, &random) + " ADD " + (random.chance(0.7) ? "COLUMN " : "")
            + column.sql(&random)
        return (sql, column)
    }

    /// Views over a table: created (now and then under a table's name,
    /// which fails), queried, dropped; a few names, so that replicas define
    /// one name concurrently and drops meet re-creates.
    static func view(over table: TableDesign, _ random: inout CaseRandom) -> String {
        let name = random.chance(0.1) ? SurfaceNames.sql(table.name, &random) : random.pick(["\"v\"", "\"V\"", "\"report\"", "[report]"])
        switch random.below(10) {
        case 0..<4:
            let condition = random.chance(0.5) ? "" : " WHERE " + SurfaceNames.sql(table.columns[0].name, &random) + " IS NOT NULL"
            return "CREATE VIEW " + (random.chance(0.3) ? "IF NOT EXISTS " : "") + name + " AS SELECT * FROM "
                + SurfaceNames.sql(table.name, &random) + condition
        case 4..<7:
            return "SELECT * FROM " + name
        default:
            return "DROP VIEW " + (random.chance(0.7) ? "IF EXISTS " : "") + name
        }
    }

    /// DDL and other statements P2PDB refuses by design, so that the run's
    /// list of refusals covers them.
    static func refused(_ table: TableDesign, _ random: inout CaseRandom) -> String {
        let name = SurfaceNames.sql(table.name, &random)
        let column = SurfaceNames.sql(table.columns[0].name, &random)
        return random.pick([
            "DROP TABLE \(name)",
            "ALTER TABLE \(name) RENAME TO \"renamed\"",
            "ALTER TABLE \(name) DROP COLUMN \(column)",
            "ALTER TABLE \(name) RENAME COLUMN \(column) TO \"renamed\"",
            "CREATE TEMP VIEW \"v\" AS SELECT * FROM \(name)",
            "CREATE TEMP TRIGGER \"tr\" AFTER INSERT ON \(name) BEGIN SELECT 1; END",
            "CREATE TRIGGER \"tr\" BEFORE INSERT ON \(name) BEGIN SELECT RAISE(IGNORE); END",
            "CREATE TEMP TABLE \"tmp\" (a INTEGER PRIMARY KEY)",
            "CREATE TABLE \"nokey\" (a INTEGER, b TEXT)",
            "CREATE TABLE \"uniq\" (a INTEGER PRIMARY KEY, b TEXT UNIQUE)",
            "ALTER TABLE \(name) ADD COLUMN \"fk\" INTEGER REFERENCES \(name)",
            "CREATE TABLE \"gen\" (a INTEGER PRIMARY KEY, b INTEGER, c INTEGER GENERATED ALWAYS AS (b + 1))",
            "CREATE TABLE \"copy\" AS SELECT * FROM \(name)",
            "CREATE TABLE \"_p2pdb_mine\" (a INTEGER PRIMARY KEY)",
            "CREATE TABLE \"sqlite_mine\" (a INTEGER PRIMARY KEY)",
            "PRAGMA journal_mode = DELETE",
            "SAVEPOINT \"s\"",
            "VACUUM",
            "REINDEX",
            "SELECT * FROM _p2pdb_rows",
        ])
    }
}
