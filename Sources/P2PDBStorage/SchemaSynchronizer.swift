import GRDB
import P2PDBCore

/// Makes the physical tables and indexes match the merged schema after it
/// changed: creates new tables, appends columns with ALTER TABLE, and when
/// a merge reorders or redefines a table (concurrent conflicting schema
/// changes), drops it and asks for it to be replayed from the log.
enum SchemaSynchronizer {
    /// - Returns: keys of tables whose rows must be replayed from the log.
    static func synchronize(_ db: Database, from old: ReplicatedSchema, state: inout ReplicaState) throws -> Set<IdentifierKey> {
        try state.localRules?.suspend(db)
        let new = state.schema
        let writeOrder = state.writeOrderTables
        state.writeOrderTables = CaptureTriggers.writtenTwice(new)
        var replay = Set<IdentifierKey>()
        // Indexes and views go first: a table may take the name of one.
        try dropIndexes(db, from: old, to: new)
        try SchemaObjects.dropViews(db, to: new)
        for (key, table) in new.tables.sorted(by: { $0.key < $1.key }) {
            guard let before = old.tables[key], let layout = state.layouts[key] else {
                let tid = try allocateTableNumber(db, key: key)
                try createTable(table, db)
                try setLayout(TableLayout(tid: tid, table: table), db, state: &state)
                continue
            }
            if before.isPrefix(of: table) && table.isPrefix(of: before) {
                state.layouts[key] = TableLayout(tid: layout.tid, table: table)
                continue
            }
            let widened = TableLayout(tid: layout.tid, table: table)
            if before.isPrefix(of: table), try addColumns(from: layout, to: widened, db, state: &state) {
                try markUnwritten(db, tid: layout.tid, columns: widened.registerIndexes.filter { $0 >= layout.columnCount })
                try setLayout(widened, db, state: &state)
                continue
            }
            try removeAllRows(db, layout: layout, state: &state)
            try db.execute(sql: "DROP TABLE \(layout.quotedName)")
            try createTable(table, db)
            try setLayout(TableLayout(tid: layout.tid, table: table), db, state: &state)
            replay.insert(key)
        }
        for key in try resolvedOrphans(db, schema: new) where !replay.contains(key) {
            // Rows of this table were merged without the columns they now
            // have: derive the table again from the log.
            if let layout = state.layouts[key] {
                try removeAllRows(db, layout: layout, state: &state)
                try db.execute(sql: "DELETE FROM \(layout.quotedName)")
            }
            replay.insert(key)
        }
        try createIndexes(db, from: old, to: new, recreatedTables: replay)
        try SchemaObjects.synchronize(db, to: new)
        // A trigger or foreign key added or dropped: the tables it writes
        // change capture triggers.
        for key in writeOrder.symmetricDifference(state.writeOrderTables) {
            if let layout = state.layouts[key] { try setLayout(layout, db, state: &state) }
        }
        return replay
    }

    private static func createTable(_ table: ReplicatedSchema.Table, _ db: Database) throws {
        do {
            try db.execute(sql: table.createSQL)
        } catch let error as DatabaseError where !table.constraintsSQL.isEmpty && error.resultCode == .SQLITE_ERROR {
            try db.execute(sql: table.createSQL(withConstraints: false))
        }
    }

    private static func setLayout(_ layout: TableLayout, _ db: Database, state: inout ReplicaState) throws {
        state.layouts[layout.key] = layout
        try state.captureTriggers?.install(layout, db, writeOrder: state.writeOrderTables.contains(layout.key))
    }

    /// Appends columns with ALTER TABLE ADD COLUMN, inside a savepoint;
    /// false (and nothing changed) when SQLite cannot add one that way, and
    /// the table must be rebuilt instead.
    private static func addColumns(from layout: TableLayout, to widened: TableLayout, _ db: Database, state: inout ReplicaState) throws -> Bool {
        let columns = widened.table.columns.dropFirst(layout.columnCount)
        guard columns.allSatisfy({ canAddWithAlter($0.definition, strict: widened.table.strict) }) else { return false }
        let hash = state.rowsHash
        try db.execute(sql: "SAVEPOINT p2pdb_add_column")
        do {
            for column in columns {
                try db.execute(sql: "ALTER TABLE \(layout.quotedName) ADD COLUMN \(column.definition.sql)")
                if !StoredValues.defaultIsReadAlike(column.definition, strict: widened.table.strict) {
                    // The older rows must hold what a row merged later holds.
                    let stored = StoredValues.storedDefault(of: column.definition, strict: widened.table.strict) ?? .null
                    let name = SQLText.quoteIdentifier(column.definition.name)
                    try db.makeStatement(sql: "UPDATE \(layout.quotedName) SET \(name) = ?").runRaw([stored])
                }
            }
            // The merge starts a row's counters at 0 (plus its deltas):
            // rows written before a counter column existed hold 0 here too,
            // not its DEFAULT, as on a replica that merged them into a table
            // that had the column.
            let counters = columns.filter {
                $0.definition.isCounter && StoredValues.storedDefault(of: $0.definition, strict: widened.table.strict) != .integer(0)
            }
            if !counters.isEmpty {
                try forEachRow(widened, db) { state.rowsHash.subtract(widened.digest(of: $0)) }
                let assignments = counters.map { SQLText.quoteIdentifier($0.definition.name) + " = 0" }.joined(separator: ", ")
                try db.execute(sql: "UPDATE \(layout.quotedName) SET \(assignments)")
                try forEachRow(widened, db) { state.rowsHash.add(widened.digest(of: $0)) }
            }
            try db.execute(sql: "RELEASE p2pdb_add_column")
            return true
        } catch where db.isInsideTransaction {
            try db.execute(sql: "ROLLBACK TO p2pdb_add_column; RELEASE p2pdb_add_column")
            state.rowsHash = hash
            return false
        }
    }

    /// Every row of the table, as SQLite stores it (read raw: GRDB's
    /// strings end at a NUL, which text values may hold).
    private static func forEachRow(_ layout: TableLayout, _ db: Database, _ body: ([Value]) -> Void) throws {
        let rows = try db.makeStatement(sql: layout.selectAllSQL)
        while try rows.stepRaw() { body(rows.currentRowRaw()) }
    }

    /// Existing rows never wrote a column added after them: any write to it,
    /// whatever its stamp, must beat the default they hold. Without this the
    /// row's base stamp would cover the new column, and a concurrent write
    /// with a lower stamp would lose here but win on a replica that learned
    /// the column before the row.
    private static func markUnwritten(_ db: Database, tid: Int64, columns: [Int]) throws {
        guard !columns.isEmpty else { return }
        let keys = try DatabaseValue.fetchAll(db, sql: "SELECT pk FROM _p2pdb_rows WHERE tid = ?", arguments: [tid])
            .compactMap(\.storage.blobBytes)
        for key in keys {
            guard var metadata = try RowMetadataStore.load(db, tid: tid, key: key) else { continue }
            for column in columns { metadata.overrides[column] = RowMetadata.LocalStamp(lamport: 0, author: 0) }
            try RowMetadataStore.save(db, tid: tid, key: key, metadata)
        }
    }

    /// SQLite's ALTER TABLE ADD COLUMN needs a literal default for NOT NULL
    /// columns and refuses expressions; other columns need a rebuild.
    private static func canAddWithAlter(_ column: P2PDBCore.ColumnDefinition, strict: Bool) -> Bool {
        if let defaultSQL = column.defaultSQL, !SQLText.isLiteral(default: defaultSQL) { return false }
        return !column.notNull || !(StoredValues.storedDefault(of: column, strict: strict) ?? .null).isNull
    }

    private static func allocateTableNumber(_ db: Database, key: IdentifierKey) throws -> Int64 {
        if let tid = try Int64.fetchOne(db, sql: "SELECT tid FROM _p2pdb_tables WHERE key = ?", arguments: [key.text]) {
            return tid
        }
        let tid = (try Int64.fetchOne(db, sql: "SELECT max(tid) FROM _p2pdb_tables") ?? 0) + 1
        try db.execute(sql: "INSERT INTO _p2pdb_tables(key, tid) VALUES (?, ?)", arguments: [key.text, tid])
        return tid
    }

    /// Takes a table's rows out of the state hash and forgets their metadata.
    private static func removeAllRows(_ db: Database, layout: TableLayout, state: inout ReplicaState) throws {
        try forEachRow(layout, db) { state.rowsHash.subtract(layout.digest(of: $0)) }
        try db.execute(sql: "DELETE FROM _p2pdb_rows WHERE tid = ?", arguments: [layout.tid])
    }

    /// Tables that changes named before their schema arrived, and that the
    /// schema now covers.
    private static func resolvedOrphans(_ db: Database, schema: ReplicatedSchema) throws -> Set<IdentifierKey> {
        var resolved = Set<IdentifierKey>()
        for row in try Row.fetchAll(db, sql: "SELECT table_key, column_key FROM _p2pdb_orphans") {
            let tableKey: String = row[0]
            let columnKey: String = row[1]
            guard let table = schema.tables[IdentifierKey(tableKey)] else { continue }
            guard columnKey.isEmpty || table.column(named: columnKey) != nil else { continue }
            resolved.insert(IdentifierKey(tableKey))
            try db.execute(
                sql: "DELETE FROM _p2pdb_orphans WHERE table_key = ? AND column_key = ?", arguments: [tableKey, columnKey])
        }
        return resolved
    }

    private static func effectiveIndexes(_ schema: ReplicatedSchema) -> [IdentifierKey: IndexDefinition] {
        Dictionary(schema.effectiveIndexes.map { (SQLText.key($0.name), $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Drops the indexes the new schema no longer has, or has otherwise.
    private static func dropIndexes(_ db: Database, from old: ReplicatedSchema, to new: ReplicatedSchema) throws {
        let after = effectiveIndexes(new)
        for (key, index) in effectiveIndexes(old).sorted(by: { $0.key < $1.key }) where !SQLText.sameText(after[key]?.sql, index.sql) {
            try db.execute(sql: "DROP INDEX IF EXISTS \(SQLText.quoteIdentifier(index.name))")
        }
    }

    /// Creates the indexes the new schema has and the old one did not, and
    /// again those of tables emptied for a replay.
    private static func createIndexes(
        _ db: Database, from old: ReplicatedSchema, to new: ReplicatedSchema, recreatedTables: Set<IdentifierKey>
    ) throws {
        let before = effectiveIndexes(old)
        for (key, index) in effectiveIndexes(new).sorted(by: { $0.key < $1.key })
        where !SQLText.sameText(before[key]?.sql, index.sql) || recreatedTables.contains(SQLText.key(index.table)) {
            try db.execute(sql: "DROP INDEX IF EXISTS \(SQLText.quoteIdentifier(index.name))")
            try db.execute(sql: index.sql)
        }
    }
}
