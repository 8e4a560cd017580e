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
        public var checks: [CheckConstraint] = []
        public var foreignKeys: [ForeignKeyConstraint] = []
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
        public var createSQL: String { createSQL(withConstraints: true) }

        /// The CREATE TABLE statement, with or without the CHECK and
        /// FOREIGN KEY clauses (a replica whose SQLite cannot create the
        /// clauses another replica wrote keeps the table without them).
        public func createSQL(withConstraints: Bool) -> String {
            var parts = columns.map(\.definition.sql)
            parts.append("PRIMARY KEY (" + primaryKey.map(SQLText.quoteIdentifier).joined(separator: ", ") + ")")
            if withConstraints { parts += constraintsSQL }
            var sql = "CREATE TABLE \(SQLText.quoteIdentifier(name)) (\(parts.joined(separator: ", ")))"
            var options: [String] = []
            if withoutRowID { options.append("WITHOUT ROWID") }
            if strict { options.append("STRICT") }
            if !options.isEmpty { sql += " " + options.joined(separator: ", ") }
            return sql
        }

        /// CHECK and FOREIGN KEY clauses, as in ``createSQL``.
        public var constraintsSQL: [String] { checks.map(\.sql) + foreignKeys.map(\.sql) }

        var digest: Bytes32 {
            StateDigest.table(
                name: name, columnsSQL: columns.map(\.definition.sql), primaryKey: primaryKey,
                options: (withoutRowID ? "without rowid;" : "") + (strict ? "strict;" : "")
                    + constraintsSQL.map { $0 + ";" }.joined())
        }

        /// True if `other` is this table with columns appended: reachable by
        /// ALTER TABLE ADD COLUMN alone.
        public func isPrefix(of other: Table) -> Bool {
            name.utf8.elementsEqual(other.name.utf8) && primaryKey.map { Array($0.utf8) } == other.primaryKey.map { Array($0.utf8) }
                && withoutRowID == other.withoutRowID
                && strict == other.strict && constraintsSQL.map { Array($0.utf8) } == other.constraintsSQL.map { Array($0.utf8) }
                && columns.count <= other.columns.count
                && zip(columns, other.columns).allSatisfy { $0.definition == $1.definition }
        }
    }

    public struct Index: Equatable, Sendable {
        public var definition: IndexDefinition
        public var origin: Origin
    }

    public struct Object: Equatable, Sendable {
        public var definition: SchemaObjectDefinition
        public var origin: Origin
    }

    /// The definitions of one name and kind that no DROP has removed, by
    /// origin; the first one is in force. A DROP removes the definitions
    /// before it, so a definition made after a DROP (a re-create) stands,
    /// whatever order the changes arrive in.
    struct Versions<Definition: Equatable & Sendable>: Equatable, Sendable {
        var dropped: Origin?
        var live: [(definition: Definition, origin: Origin)] = []

        mutating func define(_ definition: Definition, at origin: Origin) {
            if let dropped, origin < dropped { return }
            guard !live.contains(where: { $0.origin == origin }) else { return }
            let position = live.firstIndex { origin < $0.origin } ?? live.endIndex
            live.insert((definition, origin), at: position)
        }

        mutating func drop(at origin: Origin) {
            if let dropped, origin < dropped { return }
            dropped = origin
            live.removeAll { $0.origin < origin }
        }

        var current: (definition: Definition, origin: Origin)? { live.first }

        static func == (lhs: Versions, rhs: Versions) -> Bool {
            lhs.dropped == rhs.dropped && lhs.live.map(\.origin) == rhs.live.map(\.origin)
                && lhs.live.map(\.definition) == rhs.live.map(\.definition)
        }
    }

    public private(set) var tables: [IdentifierKey: Table] = [:]
    private var indexVersions: [IdentifierKey: Versions<IndexDefinition>] = [:]
    private var objectVersions: [SchemaObjectDefinition.Kind: [IdentifierKey: Versions<SchemaObjectDefinition>]] = [:]
    /// Columns added to tables this replica has not seen created.
    private var pendingColumns: [IdentifierKey: [Column]] = [:]

    public init() {}

    public func table(named name: String) -> Table? { tables[SQLText.key(name)] }

    /// The index definitions in force, by name.
    public var indexes: [IdentifierKey: Index] {
        indexVersions.compactMapValues { $0.current.map { Index(definition: $0.definition, origin: $0.origin) } }
    }

    /// Views in force whose name no table takes: the ones to create.
    ///
    /// Tables, views and indexes share one namespace in SQLite. When
    /// replicas concurrently create two of them under one name, a table
    /// keeps the name, then a view, whichever came first: a table holds
    /// rows, a view is named in queries, an index only speeds them up.
    public var effectiveViews: [SchemaObjectDefinition] {
        (objectVersions[.view] ?? [:]).compactMap { key, versions -> SchemaObjectDefinition? in
            guard tables[key] == nil else { return nil }
            return versions.current?.definition
        }.sorted { SQLText.key($0.name) < SQLText.key($1.name) }
    }

    /// Triggers in force whose table exists (triggers have a namespace of
    /// their own).
    public var effectiveTriggers: [SchemaObjectDefinition] {
        (objectVersions[.trigger] ?? [:]).compactMap { _, versions -> SchemaObjectDefinition? in
            guard let definition = versions.current?.definition, table(named: definition.table) != nil else { return nil }
            return definition
        }.sorted { SQLText.key($0.name) < SQLText.key($1.name) }
    }

    /// True if any table has a CHECK or FOREIGN KEY constraint.
    public var hasConstraints: Bool { tables.values.contains { !$0.checks.isEmpty || !$0.foreignKeys.isEmpty } }

    /// Indexes whose table and columns exist and whose name no table or
    /// view takes: the ones to create physically.
    public var effectiveIndexes: [IndexDefinition] {
        let views = Set(effectiveViews.map { SQLText.key($0.name) })
        return indexes.compactMap { key, index -> IndexDefinition? in
            guard tables[key] == nil, !views.contains(key), let table = table(named: index.definition.table),
                index.definition.columns.allSatisfy({ table.column(named: $0.name) != nil })
            else { return nil }
            var definition = index.definition
            definition.table = table.name
            return definition
        }.sorted { SQLText.key($0.name) < SQLText.key($1.name) }
    }

    /// True if a view, trigger or index of that name is in force.
    public func has(_ kind: SchemaObjectDefinition.Kind, named name: String) -> Bool {
        switch kind {
        case .index: return indexVersions[SQLText.key(name)]?.current != nil
        default: return objectVersions[kind]?[SQLText.key(name)]?.current != nil
        }
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
        for object in effectiveViews + effectiveTriggers { hash.add(StateDigest.index(sql: object.sql)) }
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
                    table.checks = definition.checks
                    table.foreignKeys = definition.foreignKeys
                    table.origin = origin
                }
                for column in columns { Self.merge(column, into: &table.declaredColumns) }
                table.refreshColumns()
                tables[key] = table
            } else {
                var table = Table(
                    name: definition.name, primaryKey: definition.primaryKey, withoutRowID: definition.withoutRowID,
                    strict: definition.strict, origin: origin)
                table.checks = definition.checks
                table.foreignKeys = definition.foreignKeys
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
            indexVersions[SQLText.key(definition.name), default: Versions()].define(definition, at: origin)
        case .createObject(let definition):
            objectVersions[definition.kind, default: [:]][SQLText.key(definition.name), default: Versions()].define(definition, at: origin)
        case .dropObject(.index, let name):
            indexVersions[SQLText.key(name), default: Versions()].drop(at: origin)
        case .dropObject(let kind, let name):
            objectVersions[kind, default: [:]][SQLText.key(name), default: Versions()].drop(at: origin)
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
