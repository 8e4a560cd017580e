import P2PDB

/// One statement of a case: its SQL (one statement, no trailing semicolon)
/// and the parameters it binds.
struct ScriptStatement: Sendable, Equatable {
    enum Role: Sendable { case begin, commit, other }

    var sql: String
    var parameters: [Value] = []
    var role = Role.other
}

/// Random DML (and queries) against a table as a replica knows it: every
/// conflict clause, upserts, updates of key and counter columns, deletes,
/// RETURNING, and values bound as parameters or written inline.
struct StatementGenerator {
    let table: TableDesign
    /// Whether inserts may leave a rowid key to SQLite. P2PDB then gives the
    /// row a key no other replica picks, where plain SQLite picks the
    /// largest plus one: by design, so not in a case compared with SQLite.
    let keysLeftToSQLite: Bool
    private var parameters: [Value] = []

    init(table: TableDesign, keysLeftToSQLite: Bool) {
        self.table = table
        self.keysLeftToSQLite = keysLeftToSQLite
    }

    static func statement(for table: TableDesign, keysLeftToSQLite: Bool, _ random: inout CaseRandom) -> ScriptStatement {
        var generator = StatementGenerator(table: table, keysLeftToSQLite: keysLeftToSQLite)
        let sql: String
        switch random.below(100) {
        case 0..<30: sql = generator.insert(&random)
        case 30..<42: sql = generator.upsert(&random)
        case 42..<60: sql = generator.update(&random)
        case 60..<70: sql = generator.counterUpdate(&random)
        case 70..<80: sql = generator.delete(&random)
        case 80..<99: sql = generator.select(&random)
        default: sql = generator.unknownColumn(&random)
        }
        return ScriptStatement(sql: sql, parameters: generator.parameters)
    }

    // MARK: Pieces

    /// A value as `?` (bound) or inline literal.
    private mutating func value(_ value: Value, _ random: inout CaseRandom) -> String {
        if random.chance(0.6) {
            parameters.append(value)
            return "?"
        }
        return SurfaceValues.literal(value)
    }

    private func name(_ text: String, _ random: inout CaseRandom) -> String { SurfaceNames.sql(text, &random) }

    private var tableName: String { table.name }

    private func isKey(_ column: ColumnDesign) -> Bool {
        table.keyColumns.contains { SurfaceNames.key($0) == SurfaceNames.key(column.name) }
    }

    /// A value for `column`: a pooled key, a small counter step, or any value.
    private mutating func valueSQL(for column: ColumnDesign, _ random: inout CaseRandom) -> String {
        if isKey(column) { return value(keyValue(for: column, &random), &random) }
        if column.isCounter, random.chance(0.9) { return value(.integer(Int64(random.int(in: -3...5))), &random) }
        if let parent = column.referencedKey, random.chance(0.9) {
            return value(SurfaceValues.key(for: parent.affinity, rowid: parent.rowid, &random), &random)
        }
        var chosen = anyValue(for: column, &random)
        // A column named `rowid` whose ALTER TABLE failed is the table's
        // rowid (or its INTEGER PRIMARY KEY): once that reaches 2^63-1 SQLite
        // picks the next one at random, so the case would not replay, and a
        // NULL there leaves the key to SQLite, which a case compared with
        // plain SQLite must not do.
        if SurfaceNames.key(column.name) == SurfaceNames.key("rowid"),
            chosen == .integer(Int64.max) || (chosen.isNull && !keysLeftToSQLite)
        {
            chosen = .integer(Int64.max / 2)
        }
        return value(chosen, &random)
    }

    private func keyValue(for column: ColumnDesign, _ random: inout CaseRandom) -> Value {
        let rowid = table.rowidAlias.map(SurfaceNames.key) == SurfaceNames.key(column.name)
        let key = SurfaceValues.key(for: column.affinity, rowid: rowid, &random)
        return rowid && key.isNull && !keysLeftToSQLite ? .integer(1) : key
    }

    /// A value for a column that is not a key.
    private func anyValue(for column: ColumnDesign, _ random: inout CaseRandom) -> Value {
        table.strict ? SurfaceValues.strictValue(forType: column.type, &random) : SurfaceValues.value(for: column.affinity, &random)
    }

    /// `k1 = ? AND k2 = ?` for a key from the pool.
    private mutating func keyCondition(_ random: inout CaseRandom) -> String {
        table.keyColumns.map { key -> String in
            let column = table.column(key) ?? ColumnDesign(name: key, type: "")
            return name(key, &random) + " = " + value(keyValue(for: column, &random), &random)
        }.joined(separator: " AND ")
    }

    /// A WHERE clause: mostly one key, sometimes a column test, sometimes none.
    private mutating func whereClause(_ random: inout CaseRandom) -> String {
        switch random.below(20) {
        case 0..<14: return " WHERE " + keyCondition(&random)
        case 14, 15:
            let column = random.pick(table.columns)
            return " WHERE " + name(column.name, &random) + " IS " + value(anyValue(for: column, &random), &random)
        case 16:
            let column = random.pick(table.columns)
            return " WHERE " + name(column.name, &random) + " > " + value(random.pick(SurfaceValues.keys), &random)
        default: return ""
        }
    }

    private mutating func returningClause(_ random: inout CaseRandom) -> String {
        guard random.chance(0.12) else { return "" }
        if random.chance(0.5) { return " RETURNING *" }
        let column = random.pick(table.columns)
        return " RETURNING typeof(" + name(column.name, &random) + "), " + name(column.name, &random)
    }

    /// The columns an insert names: the key (a rowid alias may be left to
    /// SQLite) and some others.
    private func insertColumns(_ random: inout CaseRandom) -> [ColumnDesign] {
        table.columns.filter { column in
            if isKey(column) {
                return SurfaceNames.key(column.name) != table.rowidAlias.map(SurfaceNames.key) || !keysLeftToSQLite || random.chance(0.7)
            }
            return random.chance(0.6)
        }.shuffled(using: &random)
    }

    // MARK: Statements

    mutating func insert(_ random: inout CaseRandom) -> String {
        let verb =
            random.chance(0.02)
            ? "INSERT OR ROLLBACK"
            : random.pick(["INSERT", "INSERT", "INSERT", "INSERT OR REPLACE", "INSERT OR IGNORE", "REPLACE", "INSERT OR ABORT", "INSERT OR FAIL"])
        let columns = insertColumns(&random)
        let target = verb + " INTO " + name(tableName, &random)
        if columns.isEmpty { return target + " DEFAULT VALUES" + returningClause(&random) }
        let rows = (0..<(random.chance(0.8) ? 1 : random.int(in: 2...3))).map { _ -> String in
            "(" + columns.map { valueSQL(for: $0, &random) }.joined(separator: ", ") + ")"
        }
        return target + " (" + columns.map { name($0.name, &random) }.joined(separator: ", ") + ") VALUES "
            + rows.joined(separator: ", ") + returningClause(&random)
    }

    mutating func upsert(_ random: inout CaseRandom) -> String {
        var columns = insertColumns(&random)
        for key in table.columns where isKey(key) && !columns.contains(key) { columns.append(key) }
        let head = "INSERT INTO " + name(tableName, &random) + " (" + columns.map { name($0.name, &random) }.joined(separator: ", ")
            + ") VALUES (" + columns.map { valueSQL(for: $0, &random) }.joined(separator: ", ") + ")"
        let target = " ON CONFLICT (" + table.keyColumns.shuffled(using: &random).map { name($0, &random) }.joined(separator: ", ") + ")"
        switch random.below(10) {
        case 0: return head + " ON CONFLICT DO NOTHING" + returningClause(&random)
        case 1: return head + target + " DO NOTHING"
        default:
            let others = table.valueColumns
            guard !others.isEmpty else { return head + target + " DO NOTHING" }
            var assignments: [String] = []
            for column in others.shuffled(using: &random).prefix(random.int(in: 1...2)) {
                let columnName = name(column.name, &random)
                if column.isCounter {
                    assignments.append(columnName + " = " + columnName + " + " + (random.chance(0.5) ? "excluded." + columnName : value(.integer(1), &random)))
                } else if random.chance(0.6) {
                    assignments.append(columnName + " = excluded." + columnName)
                } else {
                    assignments.append(columnName + " = " + valueSQL(for: column, &random))
                }
            }
            let condition = random.chance(0.1) ? " WHERE " + name(others[0].name, &random) + " IS NOT NULL" : ""
            return head + target + " DO UPDATE SET " + assignments.joined(separator: ", ") + condition + returningClause(&random)
        }
    }

    mutating func update(_ random: inout CaseRandom) -> String {
        let verb = random.pick(["UPDATE", "UPDATE", "UPDATE", "UPDATE OR REPLACE", "UPDATE OR IGNORE"])
        var assignments: [String] = []
        let count = random.int(in: 1...2)
        for column in table.columns.shuffled(using: &random).prefix(count) {
            let columnName = name(column.name, &random)
            if column.isCounter, random.chance(0.7) {
                assignments.append(columnName + " = " + columnName + " + " + value(.integer(Int64(random.int(in: -3...5))), &random))
            } else if isKey(column), random.chance(0.5) {
                assignments.append(columnName + " = " + value(keyValue(for: column, &random), &random))
            } else {
                assignments.append(columnName + " = " + valueSQL(for: column, &random))
            }
        }
        return verb + " " + name(tableName, &random) + " SET " + assignments.joined(separator: ", ") + whereClause(&random)
            + returningClause(&random)
    }

    /// `SET counter = counter + n`, the counters' own way of writing;
    /// sometimes with a step that overflows 64 bits.
    mutating func counterUpdate(_ random: inout CaseRandom) -> String {
        guard let counter = table.columns.filter(\.isCounter).randomElement(using: &random) else { return update(&random) }
        let columnName = name(counter.name, &random)
        let step: Value = random.chance(0.05) ? .integer(Int64.max) : .integer(Int64(random.int(in: -5...10)))
        return "UPDATE " + name(tableName, &random) + " SET " + columnName + " = " + columnName + " + " + value(step, &random)
            + whereClause(&random)
    }

    mutating func delete(_ random: inout CaseRandom) -> String {
        "DELETE FROM " + name(tableName, &random) + whereClause(&random) + returningClause(&random)
    }

    mutating func select(_ random: inout CaseRandom) -> String {
        let table = name(tableName, &random)
        let column = random.pick(self.table.columns)
        let columnName = name(column.name, &random)
        switch random.below(5) {
        case 0: return "SELECT * FROM " + table + whereClause(&random)
        case 1: return "SELECT typeof(" + columnName + "), quote(" + columnName + "), " + columnName + " FROM " + table
        case 2: return "SELECT count(*), count(" + columnName + "), total(length(" + columnName + ")) FROM " + table
        case 3:
            return "SELECT " + columnName + " FROM " + table + " WHERE " + columnName + " = "
                + value(anyValue(for: column, &random), &random)
        default: return "SELECT DISTINCT typeof(" + columnName + ") FROM " + table
        }
    }

    /// A statement naming a column the table lacks: fails everywhere.
    mutating func unknownColumn(_ random: inout CaseRandom) -> String {
        "UPDATE " + name(tableName, &random) + " SET \"no such column\" = 1"
    }
}
