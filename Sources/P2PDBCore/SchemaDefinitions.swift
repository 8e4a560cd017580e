/// A column of a replicated table, as replicated in schema changes.
///
/// P2PDB regenerates each table's DDL from these definitions, so that every
/// replica holds the same physical schema whatever SQL text created it.
public struct ColumnDefinition: Hashable, Sendable {
    public var name: String
    /// The declared type as written, e.g. `TEXT` or `COUNTER INTEGER`.
    public var declaredType: String
    public var notNull: Bool
    /// The DEFAULT expression as SQL text, if any.
    public var defaultSQL: String?
    /// A collation other than BINARY, if any.
    public var collation: String?

    public init(name: String, declaredType: String, notNull: Bool = false, defaultSQL: String? = nil, collation: String? = nil) {
        self.name = name
        self.declaredType = declaredType
        self.notNull = notNull
        self.defaultSQL = defaultSQL
        self.collation = collation
    }

    /// A column whose declared type contains `COUNTER` merges as the sum of
    /// deltas instead of last-writer-wins, when its affinity keeps integers
    /// as integers (`COUNTER INTEGER`, `COUNTER`). Under REAL or TEXT
    /// affinity a sum would be stored converted, so such a column is an
    /// ordinary one (and refused when a user declares it).
    public var isCounter: Bool {
        guard declaredType.uppercased().contains("COUNTER") else { return false }
        let affinity = ColumnAffinity(declaredType: declaredType)
        return affinity == .integer || affinity == .numeric
    }

    /// True if the declared type says COUNTER, whatever its affinity.
    public var isDeclaredCounter: Bool { declaredType.uppercased().contains("COUNTER") }

    /// Equal when every field has the same bytes: NFC and NFD spellings of a
    /// default or a type are two definitions, as they are to SQLite.
    public static func == (lhs: ColumnDefinition, rhs: ColumnDefinition) -> Bool {
        lhs.name.utf8.elementsEqual(rhs.name.utf8) && lhs.declaredType.utf8.elementsEqual(rhs.declaredType.utf8)
            && lhs.notNull == rhs.notNull && lhs.collation == rhs.collation
            && (lhs.defaultSQL.map { Array($0.utf8) } == rhs.defaultSQL.map { Array($0.utf8) })
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(Array(name.utf8))
        hasher.combine(Array(declaredType.utf8))
        hasher.combine(notNull)
        hasher.combine(defaultSQL.map { Array($0.utf8) })
        hasher.combine(collation)
    }

    /// The column definition as it appears in generated DDL.
    public var sql: String {
        var parts = [SQLText.quoteIdentifier(name)]
        if !declaredType.isEmpty { parts.append(declaredType) }
        if notNull { parts.append("NOT NULL") }
        if let defaultSQL { parts.append("DEFAULT " + defaultSQL) }
        if let collation { parts.append("COLLATE " + SQLText.quoteIdentifier(collation)) }
        return parts.joined(separator: " ")
    }
}

/// A replicated table as created by `CREATE TABLE`.
public struct TableDefinition: Hashable, Sendable {
    public var name: String
    public var columns: [ColumnDefinition]
    /// Primary key column names, in key order. Never empty.
    public var primaryKey: [String]
    public var withoutRowID: Bool
    public var strict: Bool

    public init(name: String, columns: [ColumnDefinition], primaryKey: [String], withoutRowID: Bool = false, strict: Bool = false) {
        self.name = name
        self.columns = columns
        self.primaryKey = primaryKey
        self.withoutRowID = withoutRowID
        self.strict = strict
    }
}

/// A replicated index: plain columns of one table, never UNIQUE (uniqueness
/// cannot be guaranteed across replicas that write while apart).
public struct IndexDefinition: Hashable, Sendable {
    public struct Column: Hashable, Sendable {
        public var name: String
        public var descending: Bool
        public init(name: String, descending: Bool = false) {
            self.name = name
            self.descending = descending
        }
    }

    public var name: String
    public var table: String
    public var columns: [Column]

    public init(name: String, table: String, columns: [Column]) {
        self.name = name
        self.table = table
        self.columns = columns
    }

    public var sql: String {
        let columnList = columns.map { SQLText.quoteIdentifier($0.name) + ($0.descending ? " DESC" : "") }
        return "CREATE INDEX \(SQLText.quoteIdentifier(name)) ON \(SQLText.quoteIdentifier(table)) (\(columnList.joined(separator: ", ")))"
    }
}

/// A replicated schema change, carried by an entry.
public enum SchemaChange: Hashable, Sendable {
    case createTable(TableDefinition)
    case addColumn(table: String, column: ColumnDefinition)
    case createIndex(IndexDefinition)

    /// The table the change concerns.
    public var tableName: String {
        switch self {
        case .createTable(let table): return table.name
        case .addColumn(let table, _): return table
        case .createIndex(let index): return index.table
        }
    }
}
