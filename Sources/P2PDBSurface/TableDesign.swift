import P2PDB

/// A column as a case declares it, and what the statement generator needs
/// to know about it.
struct ColumnDesign: Sendable, Equatable {
    var name: String
    /// The declared type as written; empty for a column without a type.
    var type: String
    var notNull = false
    /// A DEFAULT expression as written, if any.
    var defaultSQL: String?
    /// The column's own PRIMARY KEY clause (`PRIMARY KEY DESC`, ...), when
    /// the key is declared on the column.
    var keyClause: String?
    /// A CHECK clause on the column, as written.
    var check: String?
    /// Set on a column of a foreign key: its values come from the key pool
    /// of the parent column, so that references find parents.
    var referencedKey: ReferencedKey?

    var affinity: ColumnAffinity { ColumnAffinity(declaredType: type) }
    var isCounter: Bool { type.uppercased().contains("COUNTER") }

    func sql(_ random: inout CaseRandom) -> String {
        var parts = [SurfaceNames.sql(name, &random)]
        if !type.isEmpty { parts.append(type) }
        if let keyClause { parts.append(keyClause) }
        if notNull { parts.append("NOT NULL") }
        if let defaultSQL { parts.append("DEFAULT " + defaultSQL) }
        if let check { parts.append(check) }
        return parts.joined(separator: " ")
    }
}

/// The parent column a foreign key column refers to, as far as drawing
/// values goes.
struct ReferencedKey: Sendable, Equatable {
    var affinity: ColumnAffinity
    var rowid: Bool
}

/// `FOREIGN KEY (columns) REFERENCES parent (parentColumns) actions`, or a
/// column's own `REFERENCES` clause when `inline`.
struct ForeignKeyDesign: Sendable, Equatable {
    var columns: [String]
    var parent: String
    /// Empty: the parent's primary key, implied.
    var parentColumns: [String]
    /// `ON DELETE ...`, `ON UPDATE ...`, `DEFERRABLE ...`, as written.
    var clauses: String
    var inline: Bool

    func referenceSQL(_ random: inout CaseRandom) -> String {
        var sql = "REFERENCES " + SurfaceNames.sql(parent, &random)
        if !parentColumns.isEmpty { sql += " (" + parentColumns.map { SurfaceNames.sql($0, &random) }.joined(separator: ", ") + ")" }
        return sql + clauses
    }
}

/// A table as a case declares it. Replicas that create the same name
/// concurrently may each hold another design of it.
struct TableDesign: Sendable, Equatable {
    var name: String
    var columns: [ColumnDesign]
    /// The key columns in key order, as declared in a PRIMARY KEY (...)
    /// clause; empty when a column carries its own PRIMARY KEY.
    var tableKey: [String] = []
    var withoutRowID = false
    var strict = false
    var ifNotExists = false
    /// Table CHECK clauses, as written.
    var checks: [String] = []
    var foreignKeys: [ForeignKeyDesign] = []

    var keyColumns: [String] {
        if !tableKey.isEmpty { return tableKey }
        return columns.filter { $0.keyClause != nil }.map(\.name)
    }

    func column(_ name: String) -> ColumnDesign? { columns.first { SurfaceNames.key($0.name) == SurfaceNames.key(name) } }

    /// The column SQLite fills itself when an insert leaves it out: a
    /// single `INTEGER PRIMARY KEY` of a rowid table.
    /// In the `PRIMARY KEY (c)` form too, where DESC would not matter.
    var rowidAlias: String? {
        guard !withoutRowID else { return nil }
        if tableKey.count == 1 {
            guard let key = column(tableKey[0]), key.type.uppercased() == "INTEGER" else { return nil }
            return key.name
        }
        guard tableKey.isEmpty, let key = columns.first(where: { $0.keyClause != nil }),
            key.type.uppercased() == "INTEGER", key.keyClause?.uppercased().contains("DESC") == false
        else { return nil }
        return key.name
    }

    var valueColumns: [ColumnDesign] {
        let keys = Set(keyColumns.map(SurfaceNames.key))
        return columns.filter { !keys.contains(SurfaceNames.key($0.name)) }
    }

    func createSQL(_ random: inout CaseRandom) -> String {
        var items = columns.map { column -> String in
            var sql = column.sql(&random)
            for key in foreignKeys where key.inline && SurfaceNames.key(key.columns[0]) == SurfaceNames.key(column.name) {
                sql += " " + key.referenceSQL(&random)
            }
            return sql
        }
        if !tableKey.isEmpty {
            items.append("PRIMARY KEY (" + tableKey.map { SurfaceNames.sql($0, &random) }.joined(separator: ", ") + ")")
        }
        items += checks
        for key in foreignKeys where !key.inline {
            items.append(
                "FOREIGN KEY (" + key.columns.map { SurfaceNames.sql($0, &random) }.joined(separator: ", ") + ") " + key.referenceSQL(&random))
        }
        var options: [String] = []
        if withoutRowID { options.append("WITHOUT ROWID") }
        if strict { options.append("STRICT") }
        return "CREATE TABLE " + (ifNotExists ? "IF NOT EXISTS " : "") + SurfaceNames.sql(name, &random) + " ("
            + items.joined(separator: ", ") + ")" + (options.isEmpty ? "" : " " + options.joined(separator: ", "))
    }
}
