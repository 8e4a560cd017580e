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
    /// CHECK constraints, column and table ones alike, in declaration order.
    public var checks: [CheckConstraint]
    /// FOREIGN KEY constraints, in declaration order.
    public var foreignKeys: [ForeignKeyConstraint]

    public init(
        name: String, columns: [ColumnDefinition], primaryKey: [String], withoutRowID: Bool = false, strict: Bool = false,
        checks: [CheckConstraint] = [], foreignKeys: [ForeignKeyConstraint] = []
    ) {
        self.name = name
        self.columns = columns
        self.primaryKey = primaryKey
        self.withoutRowID = withoutRowID
        self.strict = strict
        self.checks = checks
        self.foreignKeys = foreignKeys
    }
}

/// A CHECK constraint: SQLite checks it on a node's own writes; a merge
/// never refuses a row over it (concurrent counter deltas can take a stock
/// below zero), and rows that break it are reported instead.
public struct CheckConstraint: Hashable, Sendable {
    /// The constraint's name, if it was given one with CONSTRAINT.
    public var name: String?
    /// The expression in its parentheses, as written.
    public var expression: String

    public init(name: String? = nil, expression: String) {
        self.name = name
        self.expression = expression
    }

    public var sql: String {
        (name.map { "CONSTRAINT \(SQLText.quoteIdentifier($0)) " } ?? "") + "CHECK " + expression
    }

    /// What SQLite names the constraint in its error messages.
    public var label: String {
        if let name { return name }
        var inner = Substring(expression).dropFirst().dropLast()
        while let first = inner.first, first.isWhitespace { inner = inner.dropFirst() }
        while let last = inner.last, last.isWhitespace { inner = inner.dropLast() }
        return String(inner)
    }
}

/// A FOREIGN KEY constraint: enforced, with its ON DELETE and ON UPDATE
/// actions, on a node's own writes; never while other replicas' entries are
/// merged (their cascades arrive as row changes), so a child whose parent
/// another replica deleted stays, and is reported as dangling.
public struct ForeignKeyConstraint: Hashable, Sendable {
    public enum Action: String, Hashable, Sendable, CaseIterable {
        case noAction = "NO ACTION"
        case restrict = "RESTRICT"
        case setNull = "SET NULL"
        case setDefault = "SET DEFAULT"
        case cascade = "CASCADE"
    }

    public var columns: [String]
    public var parentTable: String
    /// Empty when the clause names none: the parent's primary key.
    public var parentColumns: [String]
    public var onDelete: Action
    public var onUpdate: Action
    /// `DEFERRABLE INITIALLY DEFERRED`: checked when the transaction commits.
    public var deferred: Bool

    public init(
        columns: [String], parentTable: String, parentColumns: [String] = [], onDelete: Action = .noAction,
        onUpdate: Action = .noAction, deferred: Bool = false
    ) {
        self.columns = columns
        self.parentTable = parentTable
        self.parentColumns = parentColumns
        self.onDelete = onDelete
        self.onUpdate = onUpdate
        self.deferred = deferred
    }

    public var sql: String {
        var sql = "FOREIGN KEY (" + columns.map(SQLText.quoteIdentifier).joined(separator: ", ") + ") REFERENCES "
            + SQLText.quoteIdentifier(parentTable)
        if !parentColumns.isEmpty { sql += " (" + parentColumns.map(SQLText.quoteIdentifier).joined(separator: ", ") + ")" }
        if onDelete != .noAction { sql += " ON DELETE " + onDelete.rawValue }
        if onUpdate != .noAction { sql += " ON UPDATE " + onUpdate.rawValue }
        if deferred { sql += " DEFERRABLE INITIALLY DEFERRED" }
        return sql
    }
}

/// A replicated view or trigger: its CREATE statement as the user wrote it.
/// Views and triggers are schema objects like indexes: the first definition
/// of a name wins, and a DROP removes the definitions it follows.
public struct SchemaObjectDefinition: Hashable, Sendable {
    public enum Kind: UInt8, Hashable, Sendable {
        case view = 1
        case trigger = 2
        case index = 3

        public var keyword: String {
            switch self {
            case .view: return "VIEW"
            case .trigger: return "TRIGGER"
            case .index: return "INDEX"
            }
        }
    }

    public var kind: Kind
    public var name: String
    /// The table a trigger is on; empty for a view.
    public var table: String
    public var sql: String

    public init(kind: Kind, name: String, table: String = "", sql: String) {
        self.kind = kind
        self.name = name
        self.table = table
        self.sql = sql
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
    /// CREATE VIEW or CREATE TRIGGER.
    case createObject(SchemaObjectDefinition)
    /// DROP VIEW, DROP TRIGGER or DROP INDEX: removes the definitions of
    /// the name that come before it.
    case dropObject(kind: SchemaObjectDefinition.Kind, name: String)

    /// The table the change concerns, if any.
    public var tableName: String {
        switch self {
        case .createTable(let table): return table.name
        case .addColumn(let table, _): return table
        case .createIndex(let index): return index.table
        case .createObject(let object): return object.table
        case .dropObject: return ""
        }
    }
}
