import GRDB
import P2PDBCore

/// Applies replicated row changes to the physical tables by the merge rules.
///
/// - The highest causal length wins: a change with a lower one is obsolete,
///   a higher one starts a new lifetime of the row (a delete removes it, an
///   insert replaces every column, filling those it does not carry).
/// - Within one lifetime each register column takes the value with the
///   highest stamp (Lamport clock, then author); equal stamps only happen
///   when an author equivocates, and then the greater value wins.
/// - Counter columns add every delta of the current lifetime.
///
/// Each change is applied at most once (the log deduplicates entries), so
/// these rules make the result independent of arrival order.
///
/// Keys and values are first put in the form SQLite stores in this table
/// (``TableLayout/canonicalKey(_:)``, ``TableLayout/storable(_:column:)``),
/// so that what is compared, written and hashed is what a SELECT reads, and
/// nothing an entry carries can make SQLite refuse the write.
enum RowMerger {
    static func apply(
        _ changes: TableChanges, stamp: RowMetadata.LocalStamp, _ db: Database, state: inout ReplicaState
    ) throws {
        guard let layout = state.layouts[SQLText.key(changes.table)] else {
            try recordOrphan(db, table: changes.table, column: "")
            return
        }
        // Rows keyed by another primary key than the winning table
        // definition's come from a losing concurrent CREATE TABLE: dropped
        // on every replica alike.
        guard changes.primaryKeyColumns.map(SQLText.key) == layout.table.primaryKey.map(SQLText.key) else { return }
        var columnMap: [Int?] = []
        for name in changes.columns {
            let index = layout.columnIndexByKey[SQLText.key(name)]
            if index == nil { try recordOrphan(db, table: changes.table, column: name) }
            columnMap.append(index.flatMap { layout.isPrimaryKey[$0] ? nil : $0 })
        }
        for row in changes.rows {
            try apply(row, columnMap: columnMap, layout: layout, stamp: stamp, db, state: &state)
        }
    }

    private static func apply(
        _ change: RowChange, columnMap: [Int?], layout: TableLayout, stamp: RowMetadata.LocalStamp, _ db: Database,
        state: inout ReplicaState
    ) throws {
        // A key this table cannot hold (text where the rowid goes) comes
        // from a losing concurrent definition: dropped everywhere alike.
        guard let primaryKey = layout.canonicalKey(change.primaryKey) else { return }
        let key = TableLayout.encodeKey(primaryKey)
        let metadata = try RowMetadataStore.load(db, tid: layout.tid, key: key)
        let currentLength = metadata?.causalLength ?? 0
        if change.causalLength < currentLength { return }
        if change.causalLength == currentLength && !(metadata?.isAlive ?? false) { return }

        let oldRow = metadata?.isAlive == true ? try fetchRow(db, layout: layout, key: primaryKey) : nil
        var newRow: [Value]?
        var newMetadata: RowMetadata

        if change.causalLength > currentLength || oldRow == nil {
            // A new lifetime of the row.
            newMetadata = RowMetadata(causalLength: change.causalLength, base: stamp, overrides: [:])
            if change.kind != .delete {
                var row = layout.fillValues
                for (position, index) in layout.primaryKeyIndexes.enumerated() { row[index] = primaryKey[position] }
                for index in layout.columnNames.indices where layout.isCounter[index] { row[index] = .integer(0) }
                var written = Set<Int>()
                for item in change.values {
                    guard let index = columnMap[item.column] else { continue }
                    if layout.isCounter[index] {
                        row[index] = add(delta(of: item.value), to: row[index])
                    } else {
                        row[index] = layout.storable(item.value, column: index)
                        written.insert(index)
                    }
                }
                for item in change.deltas {
                    guard let index = columnMap[item.column], layout.isCounter[index] else { continue }
                    row[index] = add(item.delta, to: row[index])
                }
                // Columns the change did not carry lose to any real write.
                for index in layout.registerIndexes where !written.contains(index) {
                    newMetadata.overrides[index] = RowMetadata.LocalStamp(lamport: 0, author: 0)
                }
                newRow = row
            }
        } else {
            // The same lifetime: merge column by column.
            guard var existing = metadata, let oldRow else { return }
            var row = oldRow
            var changedRegisters: [Int] = []
            var changed = false
            for item in change.values {
                guard let index = columnMap[item.column] else { continue }
                if layout.isCounter[index] {
                    row[index] = add(delta(of: item.value), to: row[index])
                    changed = true
                    continue
                }
                let value = layout.storable(item.value, column: index)
                let current = existing.stamp(ofColumn: index)
                // Equal stamps: an author equivocated; the greater value wins.
                let wins =
                    current == stamp
                    ? encoded(value).lexicographicallyPrecedes(encoded(row[index])) == false && value != row[index]
                    : state.authors.precedes(current, stamp)
                if wins {
                    row[index] = value
                    changedRegisters.append(index)
                    changed = true
                }
            }
            for item in change.deltas {
                guard let index = columnMap[item.column], layout.isCounter[index], item.delta != 0 else { continue }
                row[index] = add(item.delta, to: row[index])
                changed = true
            }
            guard changed else { return }
            existing.record(stamp, columns: changedRegisters, registerColumns: layout.registerIndexes)
            newMetadata = existing
            newRow = row
        }

        try write(db, layout: layout, key: primaryKey, old: oldRow, new: newRow)
        if let oldRow { state.rowsHash.subtract(layout.digest(of: oldRow)) }
        if let newRow { state.rowsHash.add(layout.digest(of: newRow)) }
        try RowMetadataStore.save(db, tid: layout.tid, key: key, newMetadata)
    }

    /// A counter's delta carried as a plain value (by an author whose schema
    /// did not know the column as a counter): integers count, others not.
    private static func delta(of value: Value) -> Int64 {
        if case .integer(let integer) = value { return integer }
        return 0
    }

    private static func add(_ delta: Int64, to value: Value) -> Value {
        if case .integer(let integer) = value { return .integer(integer &+ delta) }
        return .integer(delta)
    }

    private static func encoded(_ value: Value) -> [UInt8] {
        var writer = ByteWriter(capacity: 16)
        writer.writeValue(value)
        return writer.bytes
    }

    static func fetchRow(_ db: Database, layout: TableLayout, key: [Value]) throws -> [Value]? {
        try db.cachedStatement(sql: layout.selectRowSQL).firstRowRaw(key)
    }

    private static func write(_ db: Database, layout: TableLayout, key: [Value], old: [Value]?, new: [Value]?) throws {
        switch (old, new) {
        case (nil, nil):
            return
        case (_?, nil):
            try db.cachedStatement(sql: layout.deleteRowSQL).runRaw(key)
        case (nil, let row?):
            try db.cachedStatement(sql: layout.insertRowSQL).runRaw(row)
        case (let before?, let row?):
            let columns = row.indices.filter { !layout.isPrimaryKey[$0] && row[$0] != before[$0] }
            guard !columns.isEmpty else { return }
            try db.cachedStatement(sql: layout.updateSQL(columns: columns)).runRaw(columns.map { row[$0] } + key)
        }
    }

    private static func recordOrphan(_ db: Database, table: String, column: String) throws {
        let statement = try db.cachedStatement(
            sql: "INSERT OR IGNORE INTO _p2pdb_orphans(table_key, column_key) VALUES (?, ?)")
        statement.setUncheckedArguments([SQLText.key(table).text, SQLText.key(column).text])
        try statement.execute()
    }
}
