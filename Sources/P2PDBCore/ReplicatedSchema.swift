/// The schema every replica converges to, computed from the schema changes
/// in the log whatever order they arrived in.
///
/// Each object (a table's key and options, a column, an index) takes the
/// definition from the change with the smallest origin: first definition
/// wins. Columns are the union over all changes to a table, ordered by
/// origin, so `SELECT *` lists them in the same order everywhere. A replica
/// compares its physical tables with ``tables`` after each change and
/// alters or rebuilds them to match.
public struct ReplicatedSchema: Sendable, Equatable {
    /// Where a definition came from: the entry's stamp, the change's
    /// position in the entry, the column's position in the change.
    ///
    /// Two entries share a stamp only if their author equivocated; the
    /// encoded definition then breaks the tie, so that the order is total
    /// and does not depend on which entry arrived first.
    public struct Origin: Comparable, Hashable, Sendable {
        public var stamp: Stamp
        public var change: Int
        public var position: Int
        /// The encoded definition, filled in by the merge.
        public var definition: [UInt8]

        public init(stamp: Stamp, change: Int, position: Int = 0) {
            self.stamp = stamp
            self.change = change
            self.position = position
            definition = []
        }

        func of(_ encoded: [UInt8], position: Int? = nil) -> Origin {
            var origin = self
            origin.definition = encoded
            if let position { origin.position = position }
            return origin
        }

        public static func < (lhs: Origin, rhs: Origin) -> Bool {
            let (left, right) = ((lhs.stamp, lhs.change, lhs.position), (rhs.stamp, rhs.change, rhs.position))
            return left == right ? lhs.definition.lexicographicallyPrecedes(rhs.definition) : left < right
        }
    }

    public struct Column: Equatable, Sendable {
        public var definition: ColumnDefinition
        public var origin: Origin
        public var key: IdentifierKey { SQLText.key(definition.name) }
    }

    public struct Table: Equatable, Sendable {
        public var name: String
        public var primaryKey: [String]
        public var withoutRowID: Bool
        public var strict: Bool
        public var origin: Origin
        /// Every column any change defined for the table, as defined,
        /// sorted by origin.
        var declaredColumns: [Column] = []
        /// The columns of the physical table, sorted by origin: the
        /// declared ones as SQLite can create them together (see
        /// ``effectiveColumns()``).
        public private(set) var columns: [Column] = []

        init(name: String, primaryKey: [String], withoutRowID: Bool, strict: Bool, origin: Origin) {
            self.name = name
            self.primaryKey = primaryKey
            self.withoutRowID = withoutRowID
            self.strict = strict
            self.origin = origin
        }

        /// Definitions that are valid alone can clash once merged: a
        /// column declared `VARCHAR(10)` by one replica cannot be created
        /// in the STRICT table another replica's definition made, so there
        /// it takes the type ANY; and SQLite allows 2000 columns, so
        /// columns past that (by origin) are left out on every replica.
        mutating func refreshColumns() {
            columns = declaredColumns.prefix(Self.maximumColumns).map { column in
                guard strict, !StorageClass.isStrictType(column.definition.declaredType) else { return column }
                var column = column
                column.definition.declaredType = "ANY"
                return column
            }
        }

        /// SQLite's default limit on the columns of a table.
        public static let maximumColumns = 2000

        public var key: IdentifierKey { SQLText.key(name) }

        public func column(named name: String) -> Column? {
            let key = SQLText.key(name)
            return columns.first { $0.key == key }
        }

        /// The positions of the primary key columns in ``columns``.
        public var primaryKeyIndexes: [Int] {
            primaryKey.compactMap { name in columns.firstIndex { $0.key == SQLText.key(name) } }
        }

        /// The CREATE TABLE statement every replica runs for this table.
        public var createSQL: String {
            var parts = columns.map(\.definition.sql)
            parts.append("PRIMARY KEY (" + primaryKey.map(SQLText.quoteIdentifier).joined(separator: ", ") + ")")
            var sql = "CREATE TABLE \(SQLText.quoteIdentifier(name)) (\(parts.joined(separator: ", ")))"
            var options: [String] = []
            if withoutRowID { options.append("WITHOUT ROWID") }
            if strict { options.append("STRICT") }
            if !options.isEmpty { sql += " " + options.joined(separator: ", ") }
            return sql
        }

        var digest: Bytes32 {
            StateDigest.table(
                name: name, columnsSQL: columns.map(\.definition.sql), primaryKey: primaryKey,
                options: (withoutRowID ? "without rowid;" : "") + (strict ? "strict;" : ""))
        }

        /// True if `other` is this table with columns appended: reachable by
        /// ALTER TABLE ADD COLUMN alone.
        public func isPrefix(of other: Table) -> Bool {
            name.utf8.elementsEqual(other.name.utf8) && primaryKey.map { Array($0.utf8) } == other.primaryKey.map { Array($0.utf8) }
                && withoutRowID == other.withoutRowID
                && strict == other.strict && columns.count <= other.columns.count
                && zip(columns, other.columns).allSatisfy { $0.definition == $1.definition }
        }
    }

    public struct Index: Equatable, Sendable {
        public var definition: IndexDefinition
        public var origin: Origin
    }

    public private(set) var tables: [IdentifierKey: Table] = [:]
    public private(set) var indexes: [IdentifierKey: Index] = [:]
    /// Columns added to tables this replica has not seen created.
    private var pendingColumns: [IdentifierKey: [Column]] = [:]

    public init() {}

    public func table(named name: String) -> Table? { tables[SQLText.key(name)] }

    /// Indexes whose table and columns exist: the ones to create physically.
    ///
    /// Tables and indexes share one namespace in SQLite. When replicas
    /// concurrently create a table and an index under one name, the table
    /// keeps the name, whichever came first: dropping the index loses
    /// nothing, dropping the table would lose its rows.
    public var effectiveIndexes: [IndexDefinition] {
        indexes.compactMap { key, index -> IndexDefinition? in
            guard tables[key] == nil, let table = table(named: index.definition.table),
                index.definition.columns.allSatisfy({ table.column(named: $0.name) != nil })
            else { return nil }
            var definition = index.definition
            definition.table = table.name
            return definition
        }.sorted { SQLText.key($0.name) < SQLText.key($1.name) }
    }

    /// The part of the state hash that covers the schema. Kept up to date
    /// by ``apply(_:origin:)``: every commit reports the state hash, and
    /// schema changes are rare.
    public private(set) var digest = StateHash.zero

    /// Merges one schema change made at `origin`.
    public mutating func apply(_ change: SchemaChange, origin: Origin) {
        merge(change, origin: origin)
        var hash = StateHash.zero
        for table in tables.values { hash.add(table.digest) }
        for index in effectiveIndexes { hash.add(StateDigest.index(sql: index.sql)) }
        digest = hash
    }

    private mutating func merge(_ change: SchemaChange, origin: Origin) {
        var encoded = ByteWriter()
        EntryCodec.encode(change, into: &encoded)
        let origin = origin.of(encoded.bytes)
        switch change {
        case .createTable(let definition):
            let key = SQLText.key(definition.name)
            let columns = definition.columns.enumerated().map { position, column in
                Column(definition: column, origin: origin.of(Self.encoded(column), position: position))
            }
            if var table = tables[key] {
                if origin < table.origin {
                    table.name = definition.name
                    table.primaryKey = definition.primaryKey
                    table.withoutRowID = definition.withoutRowID
                    table.strict = definition.strict
                    table.origin = origin
                }
                for column in columns { Self.merge(column, into: &table.declaredColumns) }
                table.refreshColumns()
                tables[key] = table
            } else {
                var table = Table(
                    name: definition.name, primaryKey: definition.primaryKey, withoutRowID: definition.withoutRowID,
                    strict: definition.strict, origin: origin)
                for column in columns + (pendingColumns.removeValue(forKey: key) ?? []) {
                    Self.merge(column, into: &table.declaredColumns)
                }
                table.refreshColumns()
                tables[key] = table
            }
        case .addColumn(let tableName, let definition):
            let column = Column(definition: definition, origin: origin.of(Self.encoded(definition)))
            let key = SQLText.key(tableName)
            if var table = tables[key] {
                Self.merge(column, into: &table.declaredColumns)
                table.refreshColumns()
                tables[key] = table
            } else {
                Self.merge(column, into: &pendingColumns[key, default: []])
            }
        case .createIndex(let definition):
            let key = SQLText.key(definition.name)
            if let existing = indexes[key], existing.origin <= origin { return }
            indexes[key] = Index(definition: definition, origin: origin)
        }
    }

    private static func encoded(_ column: ColumnDefinition) -> [UInt8] {
        var writer = ByteWriter()
        EntryCodec.encode(column, into: &writer)
        return writer.bytes
    }

    private static func merge(_ column: Column, into columns: inout [Column]) {
        if let existing = columns.firstIndex(where: { $0.key == column.key }) {
            guard column.origin < columns[existing].origin else { return }
            columns.remove(at: existing)
        }
        let position = columns.firstIndex { column.origin < $0.origin } ?? columns.endIndex
        columns.insert(column, at: position)
    }
}
