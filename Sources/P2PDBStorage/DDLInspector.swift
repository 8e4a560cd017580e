import GRDB
import GRDBSQLite
import P2PDBCore

/// Turns a user's DDL into replicated schema changes.
///
/// The user's statement runs inside a savepoint so that SQLite itself parses
/// it; the result is read back through the schema pragmas, checked against
/// what replication can support, and the savepoint is rolled back. The
/// caller then applies the canonical definition, so every replica holds the
/// same DDL whatever text created it.
enum DDLInspector {
    static func createTable(_ statement: Statement, _ db: Database) throws -> SchemaChange? {
        try inspect(statement, db) { before in
            // AUTOINCREMENT also creates sqlite_sequence.
            let created = try createdNames(db, type: "table", before: before["table"] ?? []).filter { !InternalSchema.isInternal($0) }
            guard let name = created.first else { return nil }
            return .createTable(try tableDefinition(db, name: name))
        }
    }

    static func addColumn(_ statement: Statement, _ db: Database, layouts: [IdentifierKey: TableLayout]) throws -> SchemaChange? {
        try inspect(statement, db) { _ in
            for layout in layouts.values {
                let columns = try columnInfo(db, table: layout.name)
                guard columns.count > layout.columnCount, let added = columns.last else { continue }
                if added.hidden != 0 {
                    throw P2PDBError(.refused, "generated columns are refused: store the value, or compute it in queries")
                }
                let definition = try columnDefinition(db, table: layout.name, info: added)
                try check(column: definition, table: layout.name, isPrimaryKey: false, strict: layout.table.strict)
                if !StoredValues.defaultIsReadAlike(definition, strict: layout.table.strict) {
                    throw P2PDBError(
                        .refused,
                        "SQLite reads DEFAULT \(definition.defaultSQL ?? "") one way in the rows that exist and another in rows inserted later; give a default of the column's type (integers in decimal)")
                }
                if definition.isCounter, StoredValues.storedDefault(of: definition, strict: layout.table.strict) != .integer(0) {
                    // Existing rows would start at the default here while
                    // replicas that merge their inserts start counters at 0.
                    throw P2PDBError(
                        .refused,
                        "a COUNTER column added to an existing table must have DEFAULT 0; add it with DEFAULT 0, then UPDATE the rows that need another value")
                }
                return .addColumn(table: layout.name, column: definition)
            }
            return nil
        }
    }

    static func createIndex(_ statement: Statement, _ db: Database, layouts: [IdentifierKey: TableLayout]) throws -> SchemaChange? {
        try inspect(statement, db) { before in
            let created = try createdNames(db, type: "index", before: before["index"] ?? [])
            guard let name = created.first else { return nil }
            guard let table = try String.fetchOne(
                db, sql: "SELECT tbl_name FROM sqlite_schema WHERE type = 'index' AND name = ?", arguments: [name]),
                let layout = layouts[SQLText.key(table)]
            else { throw P2PDBError(.refused, "indexes can only be created on replicated tables") }
            if let problem = SQLText.identifierProblem(name) {
                throw P2PDBError(.refused, "index \(name) cannot be replicated: \(problem)")
            }
            var columns: [IndexDefinition.Column] = []
            for row in try Row.fetchAll(db, sql: "SELECT cid, name, desc, coll, key FROM pragma_index_xinfo(?)", arguments: [name]) {
                guard (row[4] as Int) == 1 else { continue }
                guard (row[0] as Int) >= 0, let column: String = row[1] else {
                    throw P2PDBError(.refused, "expression indexes are not replicated; index plain columns")
                }
                guard ((row[3] as String?) ?? "BINARY").uppercased() == "BINARY" else {
                    throw P2PDBError(.refused, "indexes with a COLLATE clause are not replicated; index plain columns")
                }
                columns.append(IndexDefinition.Column(name: column, descending: (row[2] as Int) == 1))
            }
            return .createIndex(IndexDefinition(name: name, table: layout.name, columns: columns))
        }
    }

    /// CREATE VIEW and CREATE TRIGGER: replicated as written, with a
    /// canonical head (see ``SQLText/canonicalObjectSQL(_:kind:)``).
    static func createObject(
        _ kind: SchemaObjectDefinition.Kind, _ statement: Statement, _ db: Database, schema: ReplicatedSchema
    ) throws -> SchemaChange? {
        let type = kind.keyword.lowercased()
        return try inspect(statement, db) { before in
            guard let name = try createdNames(db, type: type, before: before[type] ?? []).first,
                let row = try Row.fetchOne(db, sql: "SELECT tbl_name, sql FROM sqlite_schema WHERE type = ? AND name = ?", arguments: [type, name]),
                let canonical = SQLText.canonicalObjectSQL(row[1], kind: kind)
            else { return nil }
            if let problem = SQLText.identifierProblem(name) {
                throw P2PDBError(.refused, "\(type) \(name) cannot be replicated: \(problem)")
            }
            var table = ""
            if kind == .trigger {
                table = row[0]
                guard schema.table(named: table) != nil || schema.has(.view, named: table) else {
                    throw P2PDBError(.refused, "triggers can only be created on replicated tables and views")
                }
            }
            let object = SchemaObjectDefinition(kind: kind, name: name, table: table, sql: canonical.sql)
            if let problem = SQLText.schemaObjectProblem(object) {
                throw P2PDBError(.refused, "\(type) \(name) cannot be replicated: \(problem)")
            }
            return .createObject(object)
        }
    }

    private typealias SchemaNames = [String: Set<IdentifierKey>]

    /// Runs the statement in a savepoint, reads what it did, rolls it back.
    private static func inspect(
        _ statement: Statement, _ db: Database, read: (SchemaNames) throws -> SchemaChange?
    ) throws -> SchemaChange? {
        var before = SchemaNames()
        for type in ["table", "index", "view", "trigger"] { before[type] = try objectNames(db, type: type) }
        let temporaryBefore = try temporaryObjectCount(db)
        try db.execute(sql: "SAVEPOINT p2pdb_ddl")
        do {
            try statement.executeRaw()
            if try temporaryObjectCount(db) != temporaryBefore {
                throw P2PDBError(.refused, "temporary tables and indexes are refused: every table is replicated")
            }
            let change = try read(before)
            try db.execute(sql: "ROLLBACK TO p2pdb_ddl; RELEASE p2pdb_ddl")
            return change
        } catch {
            try? db.execute(sql: "ROLLBACK TO p2pdb_ddl; RELEASE p2pdb_ddl")
            throw error
        }
    }

    private static func temporaryObjectCount(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_temp_schema") ?? 0
    }

    /// Names as SQLite compares them: a Swift `Set<String>` would take an
    /// NFD name for the NFC one that already exists.
    private static func objectNames(_ db: Database, type: String) throws -> Set<IdentifierKey> {
        Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_schema WHERE type = ?", arguments: [type]).map(IdentifierKey.init))
    }

    private static func createdNames(_ db: Database, type: String, before: Set<IdentifierKey>) throws -> [String] {
        try String.fetchAll(db, sql: "SELECT name FROM sqlite_schema WHERE type = ?", arguments: [type])
            .filter { !before.contains(IdentifierKey($0)) }
    }

    private struct ColumnInfo {
        var name: String
        var type: String
        var notNull: Bool
        var defaultSQL: String?
        var primaryKeyPosition: Int
        var hidden: Int
    }

    private static func columnInfo(_ db: Database, table: String) throws -> [ColumnInfo] {
        try Row.fetchAll(db, sql: "SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?)", arguments: [table])
            .map { ColumnInfo(name: $0[0], type: $0[1], notNull: $0[2], defaultSQL: $0[3], primaryKeyPosition: $0[4], hidden: $0[5]) }
    }

    private static func tableDefinition(_ db: Database, name: String) throws -> P2PDBCore.TableDefinition {
        if InternalSchema.isInternal(name) {
            throw P2PDBError(.refused, "table names starting with _p2pdb_ or sqlite_ are reserved")
        }
        if let problem = SQLText.identifierProblem(name) {
            throw P2PDBError(.refused, "table \(name) cannot be replicated: \(problem)")
        }
        let infos = try columnInfo(db, table: name)
        if infos.contains(where: { $0.hidden != 0 }) {
            throw P2PDBError(.refused, "generated columns are refused: store the value, or compute it in queries")
        }
        let keyColumns = infos.filter { $0.primaryKeyPosition > 0 }.sorted { $0.primaryKeyPosition < $1.primaryKeyPosition }
        guard !keyColumns.isEmpty else {
            throw P2PDBError(
                .refused,
                "table \(name) has no PRIMARY KEY: replicated tables need one to identify rows across replicas (e.g. id TEXT PRIMARY KEY)")
        }
        let uniqueIndexes = try Int.fetchOne(
            db, sql: "SELECT count(*) FROM pragma_index_list(?) WHERE origin = 'u'", arguments: [name]) ?? 0
        if uniqueIndexes > 0 {
            throw P2PDBError(.refused, "UNIQUE constraints are refused: uniqueness cannot hold across replicas that write while apart (the PRIMARY KEY identifies rows)")
        }
        let options = try Row.fetchOne(db, sql: "SELECT wr, strict FROM pragma_table_list(?) WHERE schema = 'main'", arguments: [name])
        let withoutRowID = (options?[0] as Int?) == 1
        let strict = (options?[1] as Int?) == 1
        var columns: [P2PDBCore.ColumnDefinition] = []
        for info in infos {
            let definition = try columnDefinition(db, table: name, info: info)
            try check(column: definition, table: name, isPrimaryKey: info.primaryKeyPosition > 0, strict: strict)
            columns.append(definition)
        }
        if !withoutRowID, keyColumns.count == 1, keyColumns[0].type.uppercased() == "INTEGER",
            try Int.fetchOne(db, sql: "SELECT count(*) FROM pragma_index_list(?) WHERE origin = 'pk'", arguments: [name]) ?? 0 > 0
        {
            // `id INTEGER PRIMARY KEY DESC`: SQLite keeps the rowid apart.
            throw P2PDBError(
                .refused,
                "INTEGER PRIMARY KEY DESC is refused: SQLite does not make it the rowid, and the replicated schema cannot say so; declare \(keyColumns[0].name) INTEGER PRIMARY KEY")
        }
        // A descending key orders a WITHOUT ROWID table's rows (and so which
        // row an UPDATE OR REPLACE keeps); the replicated schema keeps key
        // columns in ascending order only.
        let descendingKeyColumns = try Int.fetchOne(
            db,
            sql: """
                SELECT count(*) FROM pragma_index_list(?) AS list, pragma_index_xinfo(list.name) AS info \
                WHERE list.origin = 'pk' AND info.key = 1 AND info."desc" = 1
                """,
            arguments: [name]) ?? 0
        if descendingKeyColumns > 0 {
            throw P2PDBError(
                .refused,
                "PRIMARY KEY ... DESC is refused: the replicated schema keeps key columns in ascending order; declare the key without DESC")
        }
        let sql = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?", arguments: [name]) ?? ""
        guard let tokens = SQLText.tokenize(sql) else { throw P2PDBError(.invalidSQL, "could not read the definition of \(name)") }
        return P2PDBCore.TableDefinition(
            name: name, columns: columns, primaryKey: keyColumns.map(\.name), withoutRowID: withoutRowID, strict: strict,
            checks: try checks(in: tokens, sql: sql, table: name),
            foreignKeys: try foreignKeys(db, table: name, deferred: deferredReferences(in: tokens)))
    }

    /// The CHECK constraints of a table's CREATE statement, column and
    /// table constraints alike (SQLite treats them the same way).
    private static func checks(in tokens: [SQLText.Token], sql: String, table: String) throws -> [CheckConstraint] {
        var checks: [CheckConstraint] = []
        for index in tokens.indices where tokens[index].isKeyword("CHECK") && index + 1 < tokens.count && tokens[index + 1].isPunctuation("(") {
            var depth = 0
            var close: Int?
            for position in (index + 1)..<tokens.count {
                if tokens[position].isPunctuation("(") { depth += 1 }
                if tokens[position].isPunctuation(")") {
                    depth -= 1
                    if depth == 0 {
                        close = position
                        break
                    }
                }
            }
            guard let close else { throw P2PDBError(.invalidSQL, "unbalanced CHECK constraint in \(table)") }
            let expression = SQLText.source(from: tokens[index + 1], through: tokens[close], in: sql)
            guard SQLText.isParenthesizedExpression(expression) else {
                throw P2PDBError(.refused, "a CHECK constraint of \(table) cannot be replicated: \(expression)")
            }
            let name = index >= 2 && tokens[index - 2].isKeyword("CONSTRAINT") ? tokens[index - 1].text : nil
            checks.append(CheckConstraint(name: name, expression: expression))
        }
        return checks
    }

    /// For each REFERENCES clause, in the order written, whether it is
    /// `DEFERRABLE INITIALLY DEFERRED` (the schema pragmas do not say).
    private static func deferredReferences(in tokens: [SQLText.Token]) -> [Bool] {
        let clauseEnds: Set<String> = ["REFERENCES", "CHECK", "CONSTRAINT", "PRIMARY", "UNIQUE", "COLLATE", "GENERATED", "FOREIGN"]
        var result: [Bool] = []
        for start in tokens.indices where tokens[start].isKeyword("REFERENCES") {
            var deferred = false
            var depth = 0
            var position = start + 1
            while position < tokens.count {
                let token = tokens[position]
                if token.isPunctuation("(") { depth += 1 }
                if token.isPunctuation(")") {
                    depth -= 1
                    if depth < 0 { break }
                }
                if depth == 0, token.isPunctuation(",") || clauseEnds.contains(token.keyword ?? "") { break }
                if token.isKeyword("DEFERRABLE"), position + 2 < tokens.count, tokens[position + 1].isKeyword("INITIALLY"),
                    tokens[position + 2].isKeyword("DEFERRED"), !tokens[position - 1].isKeyword("NOT")
                {
                    deferred = true
                }
                position += 1
            }
            result.append(deferred)
        }
        return result
    }

    /// The table's foreign keys in the order written (SQLite numbers them
    /// from the last).
    private static func foreignKeys(_ db: Database, table: String, deferred: [Bool]) throws -> [ForeignKeyConstraint] {
        var byID: [Int: ForeignKeyConstraint] = [:]
        for row in try Row.fetchAll(
            db, sql: "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq",
            arguments: [table])
        {
            let id: Int = row[0]
            let onDelete = try action(row[5], table: table)
            let onUpdate = try action(row[4], table: table)
            var key = byID[id] ?? ForeignKeyConstraint(columns: [], parentTable: row[1], onDelete: onDelete, onUpdate: onUpdate)
            key.columns.append(row[2])
            if let parentColumn: String = row[3] { key.parentColumns.append(parentColumn) }
            byID[id] = key
        }
        let count = byID.count
        return try (0..<count).map { written in
            guard var key = byID[count - 1 - written] else { throw P2PDBError(.storage, "could not read the foreign keys of \(table)") }
            if key.parentColumns.count != key.columns.count { key.parentColumns = [] }
            key.deferred = deferred.count == count && deferred[written]
            if let problem = ([key.parentTable] + key.columns + key.parentColumns).lazy.compactMap(SQLText.identifierProblem).first {
                throw P2PDBError(.refused, "a foreign key of \(table) cannot be replicated: \(problem)")
            }
            try requireParentKey(key, of: table, db)
            return key
        }
    }

    /// A foreign key must name its parent's primary key (UNIQUE is refused,
    /// so nothing else identifies a parent row); SQLite finds out only when
    /// a row is written, and then refuses every write to either table. A
    /// parent that does not exist yet is taken on trust, as SQLite does.
    private static func requireParentKey(_ key: ForeignKeyConstraint, of table: String, _ db: Database) throws {
        let parentKey = try String.fetchAll(
            db, sql: "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", arguments: [key.parentTable])
        guard !parentKey.isEmpty else { return }
        let named = key.parentColumns.isEmpty ? parentKey : key.parentColumns
        guard named.count == key.columns.count, Set(named.map(IdentifierKey.init)) == Set(parentKey.map(IdentifierKey.init)) else {
            throw P2PDBError(
                .refused,
                "a FOREIGN KEY of \(table) must refer to the whole PRIMARY KEY of \(key.parentTable), (\(parentKey.joined(separator: ", "))), with as many columns")
        }
    }

    private static func action(_ text: String, table: String) throws -> ForeignKeyConstraint.Action {
        guard let action = ForeignKeyConstraint.Action(rawValue: text.uppercased()) else {
            throw P2PDBError(.refused, "a foreign key of \(table) has the action \(text), which P2PDB does not know")
        }
        return action
    }

    private static func columnDefinition(_ db: Database, table: String, info: ColumnInfo) throws -> P2PDBCore.ColumnDefinition {
        var collationPointer: UnsafePointer<CChar>?
        let code = sqlite3_table_column_metadata(db.sqliteConnection, "main", table, info.name, nil, &collationPointer, nil, nil, nil)
        var collation: String?
        if code == SQLITE_OK, let collationPointer {
            let name = String(cString: collationPointer)
            if name.uppercased() != "BINARY" { collation = name }
        }
        // SQLite reports `DEFAULT (uuid())` as `uuid()`: an expression needs
        // its parentheses back to be a DEFAULT clause again.
        var defaultSQL = info.defaultSQL
        // A counter starts at zero unless it says otherwise.
        if defaultSQL == nil, P2PDBCore.ColumnDefinition(name: info.name, declaredType: info.type).isCounter { defaultSQL = "0" }
        if let text = defaultSQL, !SQLText.isLiteral(default: text),
            !["CURRENT_TIME", "CURRENT_DATE", "CURRENT_TIMESTAMP"].contains(text.uppercased())
        {
            defaultSQL = "(" + text + ")"
        }
        return P2PDBCore.ColumnDefinition(
            name: info.name, declaredType: info.type, notNull: info.notNull, defaultSQL: defaultSQL, collation: collation)
    }

    private static func check(column: P2PDBCore.ColumnDefinition, table: String, isPrimaryKey: Bool, strict: Bool) throws {
        if let problem = SQLText.identifierProblem(column.name) {
            throw P2PDBError(.refused, "a column of \(table) cannot be replicated: \(problem)")
        }
        if column.isDeclaredCounter && !column.isCounter {
            throw P2PDBError(
                .refused,
                "counter column \(column.name) must hold integers: declare it `\(column.name) COUNTER INTEGER NOT NULL DEFAULT 0`")
        }
        guard column.declaredType.isEmpty || SQLText.isValidDeclaredType(column.declaredType) else {
            throw P2PDBError(.refused, "column \(column.name) has a type P2PDB cannot replicate: \(column.declaredType)")
        }
        if let defaultSQL = column.defaultSQL, !SQLText.isValidDefaultExpression(defaultSQL) {
            throw P2PDBError(.refused, "column \(column.name) has a DEFAULT P2PDB cannot replicate: \(defaultSQL)")
        }
        if isPrimaryKey {
            if column.isCounter {
                throw P2PDBError(.refused, "a COUNTER column cannot be part of the primary key of \(table)")
            }
            if column.collation != nil {
                throw P2PDBError(.refused, "primary key column \(column.name) must use the default BINARY collation")
            }
        } else if column.isCounter {
            guard case .integer? = StoredValues.storedDefault(of: column, strict: strict) else {
                throw P2PDBError(
                    .refused,
                    "counter column \(column.name) needs an integer DEFAULT, e.g. `\(column.name) COUNTER INTEGER NOT NULL DEFAULT 0`")
            }
        }
    }
}
