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
        addChecks(to: &design, &random)
        if random.chance(0.04) { addForeignKey(to: &design, parent: design, &random) }
        return design
    }

    /// CHECK clauses as applications write them: counters that must not go
    /// below zero (which concurrent deltas may still do after a merge),
    /// types, lengths, two columns compared.
    static func addChecks(to design: inout TableDesign, _ random: inout CaseRandom) {
        guard random.chance(0.2) else { return }
        for index in design.columns.indices where random.chance(0.35) {
            let column = design.columns[index]
            let name = SurfaceNames.sql(column.name, &random)
            let choices =
                column.isCounter
                ? ["CHECK (\(name) >= 0)", "CHECK (\(name) BETWEEN 0 AND 100)", "CONSTRAINT \"chk\" CHECK (\(name) >= -2)"]
                : [
                    "CHECK (typeof(\(name)) <> 'blob')", "CHECK (\(name) IS NULL OR length(\(name)) <= 8)", "CHECK (\(name) <> '')",
                    "CONSTRAINT \"chk\" CHECK (\(name) IS NOT 0)", "CHECK (\(name))", "CHECK (\(name) > -5)",
                ]
            design.columns[index].check = random.pick(choices)
        }
        if random.chance(0.3), design.columns.count >= 2 {
            let pair = design.columns.shuffled(using: &random).prefix(2).map { SurfaceNames.sql($0.name, &random) }
            design.checks.append(
                random.pick(["CHECK (\(pair[0]) IS NOT \(pair[1]))", "CONSTRAINT \"chk\" CHECK (\(pair[0]) <> \(pair[1]) OR \(pair[0]) IS NULL)"]))
        }
    }

    /// Gives `design` a foreign key to the primary key of `parent` (which
    /// may be `design` itself): new columns of the parent key's types whose
    /// values come from the same key pool, any actions, sometimes deferred,
    /// now and then naming columns that are not the parent's key.
    static func addForeignKey(to design: inout TableDesign, parent: TableDesign, _ random: inout CaseRandom) {
        var parentColumns = parent.keyColumns.compactMap(parent.column)
        guard !parentColumns.isEmpty else { return }
        let explicit = random.chance(0.5)
        if explicit {
            parentColumns.shuffle(using: &random)
            if random.chance(0.05), let other = parent.valueColumns.first { parentColumns[0] = other }
        }
        var columns: [String] = []
        for parentColumn in parentColumns {
            guard let name = ["ref", "Ref2", "fk_3", "parent", "ref5"].first(where: { design.column($0) == nil }) else { return }
            var type = random.chance(0.15) ? random.pick(types) : parentColumn.type
            if design.strict, !strictTypes.contains(type.uppercased()) { type = random.pick(strictTypes) }
            var column = ColumnDesign(name: name, type: type)
            column.referencedKey = ReferencedKey(
                affinity: parentColumn.affinity, rowid: parent.rowidAlias.map(SurfaceNames.key) == SurfaceNames.key(parentColumn.name))
            if random.chance(0.1) { column.notNull = true }
            design.columns.append(column)
            columns.append(name)
        }
        var clauses = random.pick(["", "", " ON DELETE CASCADE", " ON DELETE SET NULL", " ON DELETE SET DEFAULT", " ON DELETE RESTRICT", " ON DELETE NO ACTION"])
        if random.chance(0.3) { clauses += random.pick([" ON UPDATE CASCADE", " ON UPDATE SET NULL", " ON UPDATE RESTRICT"]) }
        if random.chance(0.15) { clauses += " DEFERRABLE INITIALLY DEFERRED" }
        design.foreignKeys.append(
            ForeignKeyDesign(
                columns: columns, parent: parent.name, parentColumns: explicit ? parentColumns.map(\.name) : [], clauses: clauses,
                inline: columns.count == 1 && random.chance(0.5)))
    }

    /// A parent no replica creates: SQLite takes the reference on trust
    /// and refuses every write to the child.
    static let missingParent = TableDesign(name: "missing", columns: [ColumnDesign(name: "id", type: "INTEGER", keyClause: "PRIMARY KEY")])

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

    /// A trigger on `table` as applications write them (stamping a column,
    /// writing an audit row, counting, deleting dependents, refusing with
    /// RAISE), writing `table` or another of `tables`; or DROP TRIGGER. A
    /// few names, so that replicas define one name concurrently.
    /// `deterministic`: no `datetime('now')` and no key left to SQLite, for
    /// a case compared with plain SQLite.
    static func trigger(on table: TableDesign, tables: [TableDesign], deterministic: Bool, _ random: inout CaseRandom) -> String {
        let name = SurfaceNames.sql(random.pick(["tr", "stamp", "Audit", "on_sale"]), &random)
        if random.chance(0.2) { return "DROP TRIGGER " + (random.chance(0.7) ? "IF EXISTS " : "") + name }
        let event = random.pick(["INSERT", "UPDATE", "UPDATE OF", "DELETE"])
        let row = event == "DELETE" ? "OLD" : (event != "INSERT" && random.chance(0.3) ? "OLD" : "NEW")
        let before = random.chance(0.3)
        var sql = "CREATE TRIGGER " + (random.chance(0.2) ? "IF NOT EXISTS " : "") + name + (before ? " BEFORE " : " AFTER ")
        if event == "UPDATE OF" {
            sql += "UPDATE OF " + SurfaceNames.sql(random.pick(table.columns).name, &random)
        } else {
            sql += event
        }
        sql += " ON " + SurfaceNames.sql(table.name, &random)
        if random.chance(0.2) { sql += " FOR EACH ROW" }
        if random.chance(0.3) { sql += " WHEN " + row + "." + SurfaceNames.sql(random.pick(table.columns).name, &random) + " IS NOT NULL" }
        let body = TriggerBody(table: table, row: row, deterministic: deterministic)
        let statements = (0..<random.int(in: 1...2)).map { _ in
            body.statement(into: random.pick(tables + [table]), raising: before && random.chance(0.3), &random)
        }
        return sql + " BEGIN " + statements.map { $0 + "; " }.joined() + "END"
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

/// The statements of a trigger body, over the firing row (`NEW` or `OLD`)
/// of `table`.
private struct TriggerBody {
    let table: TableDesign
    let row: String
    let deterministic: Bool

    func statement(into target: TableDesign, raising: Bool, _ random: inout CaseRandom) -> String {
        let targetName = SurfaceNames.sql(target.name, &random)
        if raising {
            return "SELECT RAISE(" + random.pick(["ABORT", "FAIL", "ROLLBACK"]) + ", 'refused by the trigger') WHERE " + rowValue(&random)
                + " IS NULL"
        }
        switch random.below(10) {
        case 0..<3 where !target.valueColumns.isEmpty:
            let column = random.pick(target.valueColumns)
            return "UPDATE " + targetName + " SET " + SurfaceNames.sql(column.name, &random) + " = " + newValue(for: column, &random)
                + " WHERE " + keyCondition(of: target, &random)
        case 3..<6:
            let columns = target.keyColumns.compactMap(target.column) + target.valueColumns.filter { _ in random.chance(0.5) }
            let values = columns.map { column in
                target.keyColumns.contains { SurfaceNames.key($0) == SurfaceNames.key(column.name) }
                    ? keyValue(for: column, of: target, &random) : newValue(for: column, &random)
            }
            return "INSERT " + random.pick(["", "OR REPLACE ", "OR IGNORE "]) + "INTO " + targetName + " ("
                + columns.map { SurfaceNames.sql($0.name, &random) }.joined(separator: ", ") + ") VALUES (" + values.joined(separator: ", ") + ")"
        case 6..<8:
            if let counter = target.valueColumns.first(where: \.isCounter) {
                let name = SurfaceNames.sql(counter.name, &random)
                return "UPDATE " + targetName + " SET " + name + " = " + name + random.pick([" + 1", " - 1", " + 2"]) + " WHERE "
                    + keyCondition(of: target, &random)
            }
            return "DELETE FROM " + targetName + " WHERE " + keyCondition(of: target, &random)
        default:
            return "DELETE FROM " + targetName + " WHERE " + keyCondition(of: target, &random)
        }
    }

    /// `NEW.c` or `OLD.c` for a column of the firing table.
    private func rowValue(_ random: inout CaseRandom) -> String {
        row + "." + SurfaceNames.sql(random.pick(table.columns).name, &random)
    }

    /// What a trigger writes into a column: the firing row's values, a
    /// function of them, a literal, or the time.
    private func newValue(for column: ColumnDesign, _ random: inout CaseRandom) -> String {
        switch random.below(10) {
        case 0..<4: return rowValue(&random)
        case 4, 5: return "coalesce(" + rowValue(&random) + ", 0) + 1"
        case 6 where !deterministic: return random.pick(["datetime('now')", "CURRENT_TIMESTAMP", "random()"])
        default:
            return SurfaceValues.literal(column.isCounter ? .integer(Int64(random.int(in: 0...3))) : SurfaceValues.value(for: column.affinity, &random))
        }
    }

    /// A key value for `column` of `target`: the firing row's, or one of
    /// the pool. A rowid key is never NULL when deterministic, which would
    /// leave it to SQLite.
    private func keyValue(for column: ColumnDesign, of target: TableDesign, _ random: inout CaseRandom) -> String {
        let rowid = target.rowidAlias.map(SurfaceNames.key) == SurfaceNames.key(column.name)
        if random.chance(0.5) {
            let value = rowValue(&random)
            return rowid && deterministic ? "coalesce(" + value + ", 1)" : value
        }
        let key = SurfaceValues.key(for: column.affinity, rowid: rowid, &random)
        return SurfaceValues.literal(rowid && deterministic && key.isNull ? .integer(1) : key)
    }

    /// `k1 = NEW.a AND k2 = 'b'` over the key of `target`.
    private func keyCondition(of target: TableDesign, _ random: inout CaseRandom) -> String {
        target.keyColumns.map { key -> String in
            let column = target.column(key) ?? ColumnDesign(name: key, type: "")
            return SurfaceNames.sql(key, &random) + " = " + keyValue(for: column, of: target, &random)
        }.joined(separator: " AND ")
    }
}
