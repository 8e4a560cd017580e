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
    let key: String
    let columnNames: [String]
    let columnKeys: [String]
    let columnIndexByKey: [String: Int]
    let primaryKeyIndexes: [Int]
    let isPrimaryKey: [Bool]
    let isCounter: [Bool]
    /// Indexes of non-key, non-counter columns: the last-writer-wins ones.
    let registerIndexes: [Int]
    let affinities: [ColumnAffinity]
    /// What SQLite stores for each column's literal DEFAULT (NULL if none).
    let literalDefaults: [Value]
    private let digester: RowDigester
    let fillValues: [Value]

    let quotedName: String
    /// Every row, all columns in table order.
    let selectAllSQL: String
    let selectRowSQL: String
    let insertRowSQL: String
    let deleteRowSQL: String
    let whereKeySQL: String

    init(tid: Int64, table: ReplicatedSchema.Table) {
        self.tid = tid
        self.table = table
        name = table.name
        key = table.key
        columnNames = table.columns.map(\.definition.name)
        columnKeys = table.columns.map(\.key)
        columnIndexByKey = Dictionary(uniqueKeysWithValues: columnKeys.enumerated().map { ($1, $0) })
        primaryKeyIndexes = table.primaryKeyIndexes
        var isPrimaryKey = Array(repeating: false, count: table.columns.count)
        for index in primaryKeyIndexes { isPrimaryKey[index] = true }
        self.isPrimaryKey = isPrimaryKey
        isCounter = table.columns.enumerated().map { !isPrimaryKey[$0] && $1.definition.isCounter }
        registerIndexes = table.columns.indices.filter { !isPrimaryKey[$0] && !table.columns[$0].definition.isCounter }
        affinities = table.columns.map { ColumnAffinity(declaredType: $0.definition.declaredType) }
        let literalDefaults = table.columns.map { DefaultValues.stored(for: $0.definition) }
        self.literalDefaults = literalDefaults
        digester = RowDigester(table: table.key, columnKeys: columnKeys, primaryKeyIndexes: primaryKeyIndexes, defaults: literalDefaults)
        fillValues = table.columns.indices.map { index in
            let column = table.columns[index].definition
            if literalDefaults[index].isNull && column.notNull { return ColumnAffinity(declaredType: column.declaredType).zero }
            return literalDefaults[index]
        }

        quotedName = SQLText.quoteIdentifier(table.name)
        let quotedColumns = columnNames.map(SQLText.quoteIdentifier)
        whereKeySQL = primaryKeyIndexes.map { "\(quotedColumns[$0]) = ?" }.joined(separator: " AND ")
        selectAllSQL = "SELECT \(quotedColumns.joined(separator: ", ")) FROM \(quotedName)"
        selectRowSQL = "\(selectAllSQL) WHERE \(whereKeySQL)"
        insertRowSQL = "INSERT INTO \(quotedName) (\(quotedColumns.joined(separator: ", "))) VALUES (\(Array(repeating: "?", count: quotedColumns.count).joined(separator: ", ")))"
        deleteRowSQL = "DELETE FROM \(quotedName) WHERE \(whereKeySQL)"
    }

    var columnCount: Int { columnNames.count }

    func primaryKey(of row: [Value]) -> [Value] { primaryKeyIndexes.map { row[$0] } }

    /// UPDATE of the given columns of one row, keyed by primary key.
    func updateSQL(columns: [Int]) -> String {
        let assignments = columns.map { "\(SQLText.quoteIdentifier(columnNames[$0])) = ?" }.joined(separator: ", ")
        return "UPDATE \(quotedName) SET \(assignments) WHERE \(whereKeySQL)"
    }

    /// True if SQLite may store some value of `row` differently from how it
    /// is given (a number written into a TEXT column, say).
    func mayConvert(_ row: [Value]) -> Bool {
        row.indices.contains { affinities[$0].mayConvert(row[$0]) }
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
