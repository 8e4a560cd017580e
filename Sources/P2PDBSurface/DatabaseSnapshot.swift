import P2PDB

/// What a database holds as its users see it: the user tables with their
/// columns and rows, the indexes on them, views and triggers, every value
/// kept exactly.
/// Read the same way from a replica and from the reference SQLite database.
struct DatabaseSnapshot: Sendable, Equatable {
    struct Table: Sendable, Equatable {
        var name: StoredValue
        /// `pragma_table_xinfo`: name, type, notnull, dflt_value, pk, hidden.
        var columns: [[StoredValue]]
        /// Sorted, so that physical order does not matter.
        var rows: [[StoredValue]]

        var columnNames: [StoredValue] { columns.compactMap(\.first) }
    }

    /// Sorted by name bytes.
    var tables: [Table]
    /// name, table, sql; sorted.
    var indexes: [[StoredValue]]
    /// Views and triggers: type, name, table, sql; sorted.
    var objects: [[StoredValue]]

    /// Runs one query and returns its rows.
    typealias Query = (_ sql: String, _ parameters: [Value]) async throws -> [[Value]]

    static func read(_ query: Query) async throws -> DatabaseSnapshot {
        var tables: [Table] = []
        for row in try await query("SELECT name FROM sqlite_schema WHERE type = 'table'", []) {
            guard case .text(let name)? = row.first, !isInternal(name) else { continue }
            let columns = try await query(
                "SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?)", [.text(name)])
            let rows = try await query("SELECT * FROM " + SQLText.quoteIdentifier(name), [])
            tables.append(Table(name: StoredValue(.text(name)), columns: stored(columns), rows: sorted(stored(rows))))
        }
        tables.sort { $0.name < $1.name }
        var indexes: [[StoredValue]] = []
        for row in try await query("SELECT name, tbl_name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL", []) {
            guard row.count == 3, case .text(let table) = row[1], !isInternal(table) else { continue }
            indexes.append(row.map(StoredValue.init))
        }
        let objects = try await query("SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE type IN ('view', 'trigger')", [])
        return DatabaseSnapshot(tables: tables, indexes: sorted(indexes), objects: sorted(stored(objects)))
    }

    /// P2PDB's own tables and SQLite's.
    static func isInternal(_ name: String) -> Bool {
        let key = SQLText.key(name)
        return key.hasPrefix("_p2pdb_") || key.hasPrefix("sqlite_")
    }

    static func stored(_ rows: [[Value]]) -> [[StoredValue]] { rows.map { $0.map(StoredValue.init) } }

    static func sorted(_ rows: [[StoredValue]]) -> [[StoredValue]] { rows.sorted { $0.lexicographicallyPrecedes($1) } }

    /// How `self` (called `name`) differs from `other` (`otherName`), as
    /// failures of the kinds "tables", "columns", "rows", "indexes" and
    /// "views and triggers". With `schemaDetail` off only column names count
    /// and indexes, views and triggers are not compared (P2PDB writes its
    /// own DDL).
    func differences(from other: DatabaseSnapshot, _ name: String, _ otherName: String, schemaDetail: Bool) -> [(kind: String, detail: String)] {
        var found: [(kind: String, detail: String)] = []
        let mine = Dictionary(tables.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let theirs = Dictionary(other.tables.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for table in tables where theirs[table.name] == nil { found.append(("tables", "table \(table.name) is on \(name), not on \(otherName)")) }
        for table in other.tables where mine[table.name] == nil { found.append(("tables", "table \(table.name) is on \(otherName), not on \(name)")) }
        for table in tables {
            guard let counterpart = theirs[table.name] else { continue }
            if schemaDetail ? table.columns != counterpart.columns : table.columnNames != counterpart.columnNames {
                found.append((
                    "columns",
                    "table \(table.name): \(name) " + Self.describe(table.columns, schemaDetail) + ", \(otherName) "
                        + Self.describe(counterpart.columns, schemaDetail)
                ))
            }
            if table.rows != counterpart.rows {
                found.append(("rows", "table \(table.name): " + Self.rowDifference(table.rows, counterpart.rows, name, otherName)))
            }
        }
        if schemaDetail, indexes != other.indexes {
            found.append((
                "indexes",
                "\(name) [" + indexes.map(\.rowDescription).joined(separator: ", ") + "], \(otherName) ["
                    + other.indexes.map(\.rowDescription).joined(separator: ", ") + "]"
            ))
        }
        if schemaDetail, objects != other.objects {
            found.append((
                "views and triggers",
                "\(name) [" + objects.map(\.rowDescription).joined(separator: ", ") + "], \(otherName) ["
                    + other.objects.map(\.rowDescription).joined(separator: ", ") + "]"
            ))
        }
        return found
    }

    private static func describe(_ columns: [[StoredValue]], _ detail: Bool) -> String {
        "[" + columns.map { detail ? $0.rowDescription : ($0.first?.description ?? "?") }.joined(separator: ", ") + "]"
    }

    /// The rows only one side holds (as multisets), a few of each.
    private static func rowDifference(_ left: [[StoredValue]], _ right: [[StoredValue]], _ leftName: String, _ rightName: String) -> String {
        var counts: [[StoredValue]: Int] = [:]
        for row in left { counts[row, default: 0] += 1 }
        for row in right { counts[row, default: 0] -= 1 }
        let onlyLeft = sorted(counts.filter { $0.value > 0 }.map(\.key))
        let onlyRight = sorted(counts.filter { $0.value < 0 }.map(\.key))
        func list(_ rows: [[StoredValue]]) -> String {
            rows.prefix(4).map(\.rowDescription).joined(separator: " ") + (rows.count > 4 ? " and \(rows.count - 4) more" : "")
        }
        return "\(leftName) has \(left.count) rows, \(rightName) \(right.count); only on \(leftName): "
            + (onlyLeft.isEmpty ? "none" : list(onlyLeft)) + "; only on \(rightName): " + (onlyRight.isEmpty ? "none" : list(onlyRight))
    }
}
