import GRDB
import P2PDBCore

/// Makes the physical tables and indexes match the merged schema after it
/// changed: creates new tables, appends columns with ALTER TABLE, and when
/// a merge reorders or redefines a table (concurrent conflicting schema
/// changes), drops it and asks for it to be replayed from the log.
enum SchemaSynchronizer {
    /// - Returns: keys of tables whose rows must be replayed from the log.
    static func synchronize(_ db: Database, from old: ReplicatedSchema, state: inout ReplicaState) throws -> Set<String> {
        let new = state.schema
        var replay = Set<String>()
        for (key, table) in new.tables.sorted(by: { $0.key < $1.key }) {
            guard let before = old.tables[key], let layout = state.layouts[key] else {
                let tid = try allocateTableNumber(db, key: key)
                try db.execute(sql: table.createSQL)
                state.layouts[key] = TableLayout(tid: tid, table: table)
                continue
            }
            if before.isPrefix(of: table) && table.isPrefix(of: before) {
                state.layouts[key] = TableLayout(tid: layout.tid, table: table)
                continue
            }
            let added = table.columns.dropFirst(before.columns.count)
            if before.isPrefix(of: table) && added.allSatisfy({ canAddWithAlter($0.definition) }) {
                for column in added {
                    try db.execute(sql: "ALTER TABLE \(layout.quotedName) ADD COLUMN \(column.definition.sql)")
                    if !column.definition.literalDefault.isNull {
                        // SQLite 3.40's pre-update hook reads a column added
                        // after a row was written as NULL, not as its default;
                        // rewriting the rows stores the default in each, so
                        // later changes capture the value users see.
                        let name = SQLText.quoteIdentifier(column.definition.name)
                        try db.execute(sql: "UPDATE \(layout.quotedName) SET \(name) = \(name)")
                    }
                }
                let widened = TableLayout(tid: layout.tid, table: table)
                try markUnwritten(db, tid: layout.tid, columns: widened.registerIndexes.filter { $0 >= layout.columnCount })
                state.layouts[key] = widened
                continue
            }
            try removeAllRows(db, layout: layout, state: &state)
            try db.execute(sql: "DROP TABLE \(layout.quotedName)")
            try db.execute(sql: table.createSQL)
            state.layouts[key] = TableLayout(tid: layout.tid, table: table)
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
        try synchronizeIndexes(db, from: old, to: new, recreatedTables: replay)
        return replay
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
    private static func canAddWithAlter(_ column: P2PDBCore.ColumnDefinition) -> Bool {
        if let defaultSQL = column.defaultSQL, SQLText.literalValue(ofDefault: defaultSQL) == nil { return false }
        return !column.notNull || !column.literalDefault.isNull
    }

    private static func allocateTableNumber(_ db: Database, key: String) throws -> Int64 {
        if let tid = try Int64.fetchOne(db, sql: "SELECT tid FROM _p2pdb_tables WHERE key = ?", arguments: [key]) {
            return tid
        }
        let tid = (try Int64.fetchOne(db, sql: "SELECT max(tid) FROM _p2pdb_tables") ?? 0) + 1
        try db.execute(sql: "INSERT INTO _p2pdb_tables(key, tid) VALUES (?, ?)", arguments: [key, tid])
        return tid
    }

    /// Takes a table's rows out of the state hash and forgets their metadata.
    private static func removeAllRows(_ db: Database, layout: TableLayout, state: inout ReplicaState) throws {
        // Read raw: GRDB's strings end at a NUL, which text values may hold.
        let rows = try db.makeStatement(sql: layout.selectAllSQL)
        while try rows.stepRaw() {
            state.rowsHash.subtract(layout.digest(of: rows.currentRowRaw()))
        }
        try db.execute(sql: "DELETE FROM _p2pdb_rows WHERE tid = ?", arguments: [layout.tid])
    }

    /// Tables that changes named before their schema arrived, and that the
    /// schema now covers.
    private static func resolvedOrphans(_ db: Database, schema: ReplicatedSchema) throws -> Set<String> {
        var resolved = Set<String>()
        for row in try Row.fetchAll(db, sql: "SELECT table_key, column_key FROM _p2pdb_orphans") {
            let tableKey: String = row[0]
            let columnKey: String = row[1]
            guard let table = schema.tables[tableKey] else { continue }
            guard columnKey.isEmpty || table.column(named: columnKey) != nil else { continue }
            resolved.insert(tableKey)
            try db.execute(
                sql: "DELETE FROM _p2pdb_orphans WHERE table_key = ? AND column_key = ?", arguments: [tableKey, columnKey])
        }
        return resolved
    }

    private static func synchronizeIndexes(
        _ db: Database, from old: ReplicatedSchema, to new: ReplicatedSchema, recreatedTables: Set<String>
    ) throws {
        func byKey(_ indexes: [IndexDefinition]) -> [String: IndexDefinition] {
            Dictionary(uniqueKeysWithValues: indexes.map { (SQLText.key($0.name), $0) })
        }
        let before = byKey(old.effectiveIndexes)
        let after = byKey(new.effectiveIndexes)
        for (key, index) in before.sorted(by: { $0.key < $1.key }) where after[key]?.sql != index.sql {
            guard !recreatedTables.contains(SQLText.key(index.table)) else { continue }
            try db.execute(sql: "DROP INDEX IF EXISTS \(SQLText.quoteIdentifier(index.name))")
        }
        for (key, index) in after.sorted(by: { $0.key < $1.key })
        where before[key]?.sql != index.sql || recreatedTables.contains(SQLText.key(index.table)) {
            // A table emptied for replay (not dropped) keeps its indexes.
            try db.execute(sql: "DROP INDEX IF EXISTS \(SQLText.quoteIdentifier(index.name))")
            try db.execute(sql: index.sql)
        }
    }
}
