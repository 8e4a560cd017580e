import P2PDBCore

/// A replicated table as this replica holds it physically: column order,
/// key positions, which columns are counters, and the SQL to reach a row.
///
/// Built from ``ReplicatedSchema/Table`` whenever the schema changes; the
/// physical table always has exactly these columns in this order.
final class TableLayout: Sendable {
    let tid: Int64
    let table: ReplicatedSchema.Table
    let name: String
    let key: IdentifierKey
    let columnNames: [String]
    let columnKeys: [IdentifierKey]
    let columnIndexByKey: [IdentifierKey: Int]
    let primaryKeyIndexes: [Int]
    let isPrimaryKey: [Bool]
    let isCounter: [Bool]
    /// Indexes of non-key, non-counter columns: the last-writer-wins ones.
    let registerIndexes: [Int]
    let affinities: [ColumnAffinity]
    /// The storage class a column insists on: its STRICT type, or integer
    /// for a key that is SQLite's rowid. Nil when any class goes.
    let requiredClasses: [StorageClass?]
    let notNull: [Bool]
    /// The key is SQLite's rowid (`INTEGER PRIMARY KEY` in a rowid table),
    /// which SQLite assigns when an insert leaves it out.
    let isRowIDAlias: Bool
    /// What SQLite stores for each column's literal DEFAULT (NULL if none,
    /// or if the default is an expression).
    let storedDefaults: [Value]
    private let digester: RowDigester
    /// What a column holds in a row whose change did not carry it.
    let fillValues: [Value]

    let quotedName: String
    /// Every row, all columns in table order.
    let selectAllSQL: String
    let selectRowSQL: String
    let insertRowSQL: String
    let deleteRowSQL: String
    let whereKeySQL: String
    let countKeySQL: String
    init(tid: Int64, table: ReplicatedSchema.Table) {
        self.tid = tid
        self.table = table
        name = table.name
        key = table.key
        columnNames = table.columns.map(\.definition.name)
        columnKeys = table.columns.map(\.key)
        columnIndexByKey = Dictionary(columnKeys.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        primaryKeyIndexes = table.primaryKeyIndexes
        var isPrimaryKey = Array(repeating: false, count: table.columns.count)
        for index in primaryKeyIndexes { isPrimaryKey[index] = true }
        self.isPrimaryKey = isPrimaryKey
        let definitions = table.columns.map(\.definition)
        isCounter = definitions.enumerated().map { !isPrimaryKey[$0] && $1.isCounter }
        registerIndexes = definitions.indices.filter { !isPrimaryKey[$0] && !definitions[$0].isCounter }
        affinities = definitions.map { ColumnAffinity(declaredType: $0.declaredType, strict: table.strict) }
        isRowIDAlias = !table.withoutRowID && primaryKeyIndexes.count == 1
            && definitions[primaryKeyIndexes[0]].declaredType.uppercased() == "INTEGER"
        requiredClasses = definitions.indices.map { index in
            if table.strict { return StorageClass(strictType: definitions[index].declaredType) }
            return isPrimaryKey[index] && table.primaryKeyIndexes.count == 1 && !table.withoutRowID
                && definitions[index].declaredType.uppercased() == "INTEGER" ? .integer : nil
        }
        notNull = definitions.enumerated().map { $1.notNull || (isPrimaryKey[$0] && table.withoutRowID) }
        let storedDefaults = definitions.map { StoredValues.storedDefault(of: $0, strict: table.strict) ?? .null }
        self.storedDefaults = storedDefaults
        digester = RowDigester(table: table.name, columnKeys: columnKeys, primaryKeyIndexes: primaryKeyIndexes, defaults: storedDefaults)
        let affinities = affinities
        fillValues = definitions.indices.map { index in
            if storedDefaults[index].isNull && definitions[index].notNull { return affinities[index].zero }
            return storedDefaults[index]
        }

        quotedName = SQLText.quoteIdentifier(table.name)
        let quotedColumns = columnNames.map(SQLText.quoteIdentifier)
        whereKeySQL = primaryKeyIndexes.map { "\(quotedColumns[$0]) = ?" }.joined(separator: " AND ")
        let selectAll = "SELECT \(quotedColumns.joined(separator: ", ")) FROM \(quotedName)"
        selectAllSQL = StatementSource.cacheKeyed(selectAll)
        selectRowSQL = StatementSource.cacheKeyed("\(selectAll) WHERE \(whereKeySQL)")
        insertRowSQL = StatementSource.cacheKeyed(
            "INSERT INTO \(quotedName) (\(quotedColumns.joined(separator: ", "))) VALUES (\(Array(repeating: "?", count: quotedColumns.count).joined(separator: ", ")))")
        deleteRowSQL = StatementSource.cacheKeyed("DELETE FROM \(quotedName) WHERE \(whereKeySQL)")
        countKeySQL = StatementSource.cacheKeyed("SELECT count(*) FROM \(quotedName) WHERE \(whereKeySQL)")
    }

    /// The value SQLite stores for `value` in column `index`.
    func stored(_ value: Value, column index: Int) -> Value {
        StoredValues.stored(value, affinity: affinities[index])
    }

    /// The row as SQLite stores it.
    func stored(_ row: [Value]) -> [Value] {
        row.indices.map { stored(row[$0], column: $0) }
    }

    /// The value column `index` holds when another replica's change writes
    /// `value` to it: what SQLite stores, or the column's fill value when
    /// the column cannot hold it (NULL in a NOT NULL column, a value of
    /// another type in a STRICT column). Values only come out unstorable
    /// when concurrent definitions of a table disagree; replacing them the
    /// same way everywhere keeps the row and keeps replicas equal.
    func storable(_ value: Value, column index: Int) -> Value {
        let converted = stored(value, column: index)
        if converted.isNull ? notNull[index] : !(requiredClasses[index]?.holds(converted) ?? true) {
            return fillValues[index]
        }
        return converted
    }

    /// The key as SQLite identifies rows: each value as stored, with a
    /// number that SQLite compares equal to an integer (`1.0` and `1`, `-0.0`
    /// and `0`) written as that integer, except in REAL columns where every
    /// number is a real. Nil if the key cannot be stored in this table
    /// (NULL, or a value its key type refuses).
    func canonicalKey(_ values: [Value]) -> [Value]? {
        guard values.count == primaryKeyIndexes.count else { return nil }
        var key: [Value] = []
        key.reserveCapacity(values.count)
        for (position, index) in primaryKeyIndexes.enumerated() {
            var value = stored(values[position], column: index)
            if affinities[index] != .real, case .real(let real) = value, real.rounded(.towardZero) == real,
                real >= -0x1p63, real < 0x1p63
            {
                value = .integer(Int64(real))
            }
            guard !value.isNull, requiredClasses[index]?.holds(value) ?? true else { return nil }
            key.append(value)
        }
        return key
    }

    var columnCount: Int { columnNames.count }

    func primaryKey(of row: [Value]) -> [Value] { primaryKeyIndexes.map { row[$0] } }

    /// UPDATE of the given columns of one row, keyed by primary key.
    func updateSQL(columns: [Int]) -> String {
        let assignments = columns.map { "\(SQLText.quoteIdentifier(columnNames[$0])) = ?" }.joined(separator: ", ")
        return StatementSource.cacheKeyed("UPDATE \(quotedName) SET \(assignments) WHERE \(whereKeySQL)")
    }

    /// The row's contribution to the state hash.
    func digest(of row: [Value]) -> Bytes32 { digester.digest(row) }

    /// The encoding of a primary key used as the metadata key.
    ///
    /// Integers are written big-endian with the sign bit flipped, so that
    /// byte order is numeric order: rows inserted with growing keys append
    /// to `_p2pdb_rows` instead of landing on pages all over its B-tree.
    static func encodeKey(_ values: [Value]) -> [UInt8] {
        var writer = ByteWriter(capacity: 24)
        for value in values {
            if case .integer(let integer) = value {
                writer.writeByte(1)
                writer.writeUInt64BigEndian(UInt64(bitPattern: integer) ^ (1 << 63))
            } else {
                writer.writeValue(value)
            }
        }
        return writer.bytes
    }
}
