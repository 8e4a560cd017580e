/// A digest of all user-visible replicated data that does not depend on the
/// order in which the data arrived.
///
/// The state hash is the sum, modulo 2^256, of one SHA-256 digest per visible
/// row plus the digest of the schema. A sum can be updated incrementally:
/// changing a row subtracts its old digest and adds its new one, so a write
/// never rescans the database. It is a convergence fingerprint between
/// replicas; the log's integrity rests on the signed, hash-linked entries.
public struct StateHash: Hashable, Sendable, CustomStringConvertible {
    public private(set) var value: Bytes32

    public static let zero = StateHash(value: Bytes32(word0: 0, word1: 0, word2: 0, word3: 0))

    public init(value: Bytes32) { self.value = value }

    public init?(hex: String) {
        guard let value = Bytes32(hex: hex) else { return nil }
        self.value = value
    }

    public var hex: String { value.hex }
    public var description: String { value.hex }

    public mutating func add(_ digest: Bytes32) {
        var carry: UInt64 = 0
        (value.word3, carry) = Self.add(value.word3, digest.word3, carry)
        (value.word2, carry) = Self.add(value.word2, digest.word2, carry)
        (value.word1, carry) = Self.add(value.word1, digest.word1, carry)
        (value.word0, _) = Self.add(value.word0, digest.word0, carry)
    }

    public mutating func subtract(_ digest: Bytes32) {
        var borrow: UInt64 = 0
        (value.word3, borrow) = Self.subtract(value.word3, digest.word3, borrow)
        (value.word2, borrow) = Self.subtract(value.word2, digest.word2, borrow)
        (value.word1, borrow) = Self.subtract(value.word1, digest.word1, borrow)
        (value.word0, _) = Self.subtract(value.word0, digest.word0, borrow)
    }

    public mutating func add(_ other: StateHash) { add(other.value) }
    public mutating func subtract(_ other: StateHash) { subtract(other.value) }

    private static func add(_ a: UInt64, _ b: UInt64, _ carry: UInt64) -> (UInt64, UInt64) {
        let (partial, overflow1) = a.addingReportingOverflow(b)
        let (sum, overflow2) = partial.addingReportingOverflow(carry)
        return (sum, (overflow1 ? 1 : 0) + (overflow2 ? 1 : 0))
    }

    private static func subtract(_ a: UInt64, _ b: UInt64, _ borrow: UInt64) -> (UInt64, UInt64) {
        let (partial, overflow1) = a.subtractingReportingOverflow(b)
        let (difference, overflow2) = partial.subtractingReportingOverflow(borrow)
        return (difference, (overflow1 ? 1 : 0) + (overflow2 ? 1 : 0))
    }
}

/// The digests that make up a ``StateHash``.
public enum StateDigest {
    /// The digest of one visible row. Cells holding their column's hash
    /// default are left out, so adding a column with a default changes no
    /// existing row's digest. Cells are taken in column-name order.
    ///
    /// - Parameters:
    ///   - table: the table name (compared case-insensitively).
    ///   - primaryKey: the key values in key order.
    ///   - cells: (column name, value) pairs, non-key columns only, in any order.
    public static func row(table: String, primaryKey: [Value], cells: [(name: String, value: Value)]) -> Bytes32 {
        let digester = RowDigester(
            table: table, columnKeys: Array(repeating: IdentifierKey(""), count: primaryKey.count) + cells.map { SQLText.key($0.name) },
            primaryKeyIndexes: Array(primaryKey.indices), defaults: nil)
        return digester.digest(primaryKey + cells.map(\.value))
    }

    /// The digest of one table's definition as it appears to users.
    public static func table(name: String, columnsSQL: [String], primaryKey: [String], options: String) -> Bytes32 {
        var writer = ByteWriter()
        writer.writeBytes(tableDomain)
        writer.writeLengthPrefixed(SQLText.key(name).bytes)
        writer.writeVarint(columnsSQL.count)
        for column in columnsSQL { writer.writeString(column) }
        writer.writeVarint(primaryKey.count)
        for column in primaryKey { writer.writeLengthPrefixed(SQLText.key(column).bytes) }
        writer.writeString(options)
        return Signatures.sha256(writer.bytes)
    }

    /// The digest of one index definition.
    public static func index(sql: String) -> Bytes32 {
        var writer = ByteWriter()
        writer.writeBytes(indexDomain)
        writer.writeString(sql)
        return Signatures.sha256(writer.bytes)
    }

    static let rowDomain = Array("p2pdb/row/v1".utf8)
    private static let tableDomain = Array("p2pdb/table/v1".utf8)
    private static let indexDomain = Array("p2pdb/index/v1".utf8)
}

/// Row digests of one table, with everything that depends only on the
/// table worked out once: the encoded table name, the order of the columns
/// by name. The write path digests every row it touches.
///
/// ```swift
/// let digester = RowDigester(
///     table: "items", columnKeys: [IdentifierKey("id"), IdentifierKey("name")], primaryKeyIndexes: [0], defaults: [.null, .null])
/// let digest = digester.digest([.text("apple"), .text("Apple")])
/// ```
public struct RowDigester: Sendable {
    private let prefix: [UInt8]
    private let keyIndexes: [Int]
    /// Non-key columns sorted by name (byte order), each with its encoded name.
    private let cells: [(index: Int, name: [UInt8])]
    /// Cells equal to their column's default are left out; nil keeps all.
    private let defaults: [Value]?

    public init(table: String, columnKeys: [IdentifierKey], primaryKeyIndexes: [Int], defaults: [Value]?) {
        var writer = ByteWriter(capacity: 32)
        writer.writeBytes(StateDigest.rowDomain)
        writer.writeLengthPrefixed(SQLText.key(table).bytes)
        prefix = writer.bytes
        keyIndexes = primaryKeyIndexes
        let keys = Set(primaryKeyIndexes)
        cells = columnKeys.indices.filter { !keys.contains($0) }
            .sorted { columnKeys[$0] < columnKeys[$1] }
            .map { index in
                var name = ByteWriter(capacity: columnKeys[index].bytes.count + 2)
                name.writeLengthPrefixed(columnKeys[index].bytes)
                return (index, name.bytes)
            }
        self.defaults = defaults
    }

    /// The digest of a row given in column order.
    public func digest(_ row: [Value]) -> Bytes32 {
        var writer = ByteWriter(capacity: prefix.count + 24 * row.count)
        writer.writeBytes(prefix)
        writer.writeVarint(keyIndexes.count)
        for index in keyIndexes { writer.writeValue(row[index]) }
        var count = 0
        for cell in cells where included(row, cell.index) { count += 1 }
        writer.writeVarint(count)
        for cell in cells where included(row, cell.index) {
            writer.writeBytes(cell.name)
            writer.writeValue(row[cell.index])
        }
        return Signatures.sha256(writer.bytes)
    }

    private func included(_ row: [Value], _ index: Int) -> Bool {
        guard let defaults else { return true }
        return row[index] != defaults[index]
    }
}
