/// What happened to one row in one transaction, as replicated.
///
/// A row's *causal length* `cl` counts its lifetimes: odd while it exists,
/// even once deleted. An insert of an absent row takes the next odd value,
/// a delete the next even one, and an update keeps the row's current value.
/// The highest causal length wins, which makes a delete beat concurrent
/// updates, and lets only a re-insert that has seen the delete revive a row.
public struct RowChange: Hashable, Sendable {
    public enum Kind: UInt8, Sendable {
        case insert = 1
        case update = 2
        case delete = 3
    }

    public var kind: Kind
    public var causalLength: UInt64
    /// The primary key values, in key order.
    public var primaryKey: [Value]
    /// Last-writer-wins columns written: (index into the change set's
    /// `columns`, value).
    public var values: [ColumnValue]
    /// Counter columns changed: (index into `columns`, delta).
    public var deltas: [ColumnDelta]

    public init(kind: Kind, causalLength: UInt64, primaryKey: [Value], values: [ColumnValue] = [], deltas: [ColumnDelta] = []) {
        self.kind = kind
        self.causalLength = causalLength
        self.primaryKey = primaryKey
        self.values = values
        self.deltas = deltas
    }
}

public struct ColumnValue: Hashable, Sendable {
    public var column: Int
    public var value: Value
    public init(column: Int, value: Value) {
        self.column = column
        self.value = value
    }
}

public struct ColumnDelta: Hashable, Sendable {
    public var column: Int
    public var delta: Int64
    public init(column: Int, delta: Int64) {
        self.column = column
        self.delta = delta
    }
}

/// The row changes of one entry to one table. Column names are listed once
/// and referenced by index from each change, which keeps a batch of a
/// thousand rows compact.
public struct TableChanges: Hashable, Sendable {
    public var table: String
    public var primaryKeyColumns: [String]
    /// Non-key columns referenced by the changes.
    public var columns: [String]
    public var rows: [RowChange]

    public init(table: String, primaryKeyColumns: [String], columns: [String], rows: [RowChange]) {
        self.table = table
        self.primaryKeyColumns = primaryKeyColumns
        self.columns = columns
        self.rows = rows
    }
}
