import Foundation

/// Encodes Swift values into SQLite values: the one mapping from Swift to
/// SQLite, the inverse of ``RowDecoder``.
///
/// A single value becomes one ``Value``, ready to bind to a parameter:
///
/// ```swift
/// let since = try Value(encoding: Date(timeIntervalSinceNow: -3600))
/// let recent = try await node.query(Sale.self, "SELECT * FROM sales WHERE at >= ?", [since])
/// ```
///
/// A record (a struct) becomes its columns, by coding key, which bind to
/// named parameters (`:name`, `@name`, `$name`) with
/// ``SQLRequest/init(_:record:)`` or `Node.execute(_:record:)`:
///
/// ```swift
/// struct Item: Codable {
///     var id: String
///     var name: String
///     var tags: [String]       // stored as JSON text
///     var note: String?        // nil is NULL
/// }
///
/// try await node.execute(
///     "INSERT INTO items(id, name, tags, note) VALUES (:id, :name, :tags, :note)",
///     record: Item(id: "a", name: "apple", tags: ["fruit"], note: nil))
/// ```
///
/// ## Conversions
///
/// | Swift type | SQLite value |
/// | --- | --- |
/// | `Int`, `Int8` ... `UInt64` | INTEGER (an unsigned value above `Int64.max` is an error) |
/// | `Double`, `Float` | REAL (NaN is an error: SQLite would store NULL) |
/// | `Bool` | INTEGER 0 or 1 |
/// | `String` | TEXT, byte for byte (no Unicode normalisation) |
/// | `Data`, `[UInt8]` | BLOB |
/// | `Date` | TEXT `YYYY-MM-DD HH:MM:SS.SSS` in UTC, to the nearest millisecond: the form SQLite's date functions read, and that sorts as the dates do. Years 0000 to 9999. |
/// | `UUID` | TEXT, `uuidString` (upper case) |
/// | `URL` | TEXT, `absoluteString` |
/// | `Decimal` | TEXT, its exact digits |
/// | `Value` | itself |
/// | `Optional` | `nil` is NULL |
/// | `RawRepresentable` enums | their raw value |
/// | anything else (arrays, dictionaries, nested structs) | TEXT holding JSON from `JSONEncoder` with sorted keys, so that equal values give equal text on every replica; dates inside it in the text form above |
///
/// Errors are ``P2PDBError`` with kind `.invalidParameters`.
public struct ValueEncoder: Sendable {
    public init() {}

    /// The value that stands for `value` in SQL.
    public func encode<T: Encodable>(_ value: T) throws(P2PDBError) -> Value {
        do {
            return try ValueEncoding.encodeValue(value, path: [])
        } catch {
            throw ValueEncoding.failure(error, T.self)
        }
    }

    /// The columns of a record, by coding key, in the order it encodes them.
    public func encodeRecord<T: Encodable>(_ record: T) throws(P2PDBError) -> [(column: String, value: Value)] {
        do {
            let columns = ValueEncoding.RecordColumns()
            try record.encode(to: RecordEncoder(columns: columns))
            if let problem = columns.problem { throw problem }
            return columns.columns
        } catch {
            throw ValueEncoding.failure(error, T.self)
        }
    }
}

extension Value {
    /// The value that stands for `value` in SQL: see ``ValueEncoder`` for
    /// the conversions.
    ///
    /// ```swift
    /// try Value(encoding: 42)            // .integer(42)
    /// try Value(encoding: true)          // .integer(1)
    /// try Value(encoding: ["a", "b"])    // .text("[\"a\",\"b\"]")
    /// ```
    public init<T: Encodable>(encoding value: T) throws(P2PDBError) {
        self = try ValueEncoder().encode(value)
    }
}

/// The machinery behind ``ValueEncoder``.
enum ValueEncoding {
    /// Columns collected while a record encodes itself.
    final class RecordColumns {
        var columns: [(column: String, value: Value)] = []
        /// The first thing the record asked for that a row cannot hold.
        var problem: (any Error)?

        func set(_ column: String, _ value: Value) {
            if let index = columns.firstIndex(where: { $0.column == column }) {
                columns[index].value = value
            } else {
                columns.append((column, value))
            }
        }

        func fail(_ message: String, _ path: [any CodingKey]) {
            guard problem == nil else { return }
            problem = EncodingError.invalidValue(Value.null, .init(codingPath: path, debugDescription: message))
        }
    }

    static func failure(_ error: any Error, _ type: Any.Type) -> P2PDBError {
        let detail: String
        switch error {
        case EncodingError.invalidValue(_, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            detail = (path.isEmpty ? "" : "\(path): ") + context.debugDescription
        case let error as P2PDBError: detail = error.message
        default: detail = String(describing: error)
        }
        return P2PDBError(.invalidParameters, "cannot encode \(type) as SQLite values: \(detail)")
    }

    static func invalid(_ message: String, _ path: [any CodingKey]) -> EncodingError {
        .invalidValue(Value.null, .init(codingPath: path, debugDescription: message))
    }

    static func encodeValue<T: Encodable>(_ value: T, path: [any CodingKey]) throws -> Value {
        if let special = try encodeSpecial(value, path) { return special }
        let encoder = ColumnEncoder(path: path)
        try value.encode(to: encoder)
        if encoder.state.needsJSON {
            let json = JSONEncoder()
            json.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            json.dateEncodingStrategy = .custom { date, encoder in
                var container = encoder.singleValueContainer()
                try container.encode(try text(of: date, path: encoder.codingPath))
            }
            return .text(String(decoding: try json.encode(value), as: UTF8.self))
        }
        guard let encoded = encoder.state.value else {
            throw invalid("\(T.self) encoded nothing", path)
        }
        return encoded
    }

    private static func encodeSpecial<T>(_ value: T, _ path: [any CodingKey]) throws -> Value? {
        switch value {
        case let value as Value: return value
        case let data as Data: return .blob([UInt8](data))
        case let bytes as [UInt8]: return .blob(bytes)
        case let date as Date: return .text(try text(of: date, path: path))
        case let uuid as UUID: return .text(uuid.uuidString)
        case let url as URL: return .text(url.absoluteString)
        case let decimal as Decimal:
            guard decimal.isFinite else { throw invalid("a Decimal that is not a number cannot be stored", path) }
            return .text(decimal.description)
        default: return nil
        }
    }

    static func text(of date: Date, path: [any CodingKey]) throws -> String {
        guard DateText.range.contains(date) else {
            throw invalid("the date \(date) is outside the years 0000 to 9999 that SQLite's date text holds", path)
        }
        return DateText.format(date)
    }

    static func integer<I: BinaryInteger>(_ value: I, _ path: [any CodingKey]) throws -> Value {
        guard let integer = Int64(exactly: value) else {
            throw invalid("\(value) does not fit SQLite's 64-bit signed integers", path)
        }
        return .integer(integer)
    }

    static func real(_ value: Double, _ path: [any CodingKey]) throws -> Value {
        guard !value.isNaN else { throw invalid("NaN cannot be stored: SQLite would store NULL", path) }
        return .real(value)
    }
}

// MARK: - Encoders

/// Encodes a record into its columns.
private struct RecordEncoder: Encoder {
    let columns: ValueEncoding.RecordColumns
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(RecordContainer<Key>(columns: columns))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        columns.fail("a record encodes into named columns (a struct), not an array", [])
        return ColumnEncoder(path: []).unkeyedContainer()
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        columns.fail("a record encodes into named columns (a struct), not a single value; use Value(encoding:) for one value", [])
        return ColumnEncoder(path: [])
    }
}

private struct RecordContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let columns: ValueEncoding.RecordColumns
    var codingPath: [any CodingKey] { [] }

    private func set(_ key: Key, _ encode: () throws -> Value) throws {
        columns.set(key.stringValue, try encode())
    }

    mutating func encodeNil(forKey key: Key) throws { columns.set(key.stringValue, .null) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { columns.set(key.stringValue, .integer(value ? 1 : 0)) }
    mutating func encode(_ value: String, forKey key: Key) throws { columns.set(key.stringValue, .text(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try set(key) { try ValueEncoding.real(value, [key]) } }
    mutating func encode(_ value: Float, forKey key: Key) throws { try set(key) { try ValueEncoding.real(Double(value), [key]) } }
    mutating func encode(_ value: Int, forKey key: Key) throws { try set(key) { try ValueEncoding.integer(value, [key]) } }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try set(key) { try ValueEncoding.integer(value, [key]) } }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try set(key) { try ValueEncoding.integer(value, [key]) } }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try set(key) { try ValueEncoding.integer(value, [key]) } }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try set(key) { try ValueEncoding.integer(value, [key]) } }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try set(key) { try ValueEncoding.integer(value, [key]) } }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try set(key) { try ValueEncoding.integer(value, [key]) } }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try set(key) { try ValueEncoding.integer(value, [key]) } }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try set(key) { try ValueEncoding.integer(value, [key]) } }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try set(key) { try ValueEncoding.integer(value, [key]) } }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try set(key) { try ValueEncoding.encodeValue(value, path: [key]) }
    }

    // A nil optional is a NULL column, not a missing one: a statement that
    // names `:note` finds it.
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws { try encodeOptional(value, key) }

    private mutating func encodeOptional<T: Encodable>(_ value: T?, _ key: Key) throws {
        guard let value else { return try encodeNil(forKey: key) }
        try encode(value, forKey: key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        columns.fail("a column holds one value; encode a Codable value for \(key.stringValue) (it is stored as JSON) instead of a nested container", [key])
        return ColumnEncoder(path: [key]).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        columns.fail("a column holds one value; encode a Codable array for \(key.stringValue) (it is stored as JSON) instead of a nested container", [key])
        return ColumnEncoder(path: [key]).unkeyedContainer()
    }

    /// The same columns: a subclass and its superclass encode into one row.
    mutating func superEncoder() -> any Encoder { RecordEncoder(columns: columns) }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        columns.fail("superEncoder(forKey:) is not supported in a record; use superEncoder()", [key])
        return ColumnEncoder(path: [key])
    }
}

/// Encodes one value; notes when the value wants a container (then it is
/// stored as JSON).
private struct ColumnEncoder: Encoder, SingleValueEncodingContainer {
    final class State {
        var value: Value?
        var needsJSON = false
    }

    let path: [any CodingKey]
    let state = State()
    var codingPath: [any CodingKey] { path }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        state.needsJSON = true
        return KeyedEncodingContainer(DiscardingContainer<Key>(codingPath: path))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        state.needsJSON = true
        return DiscardingUnkeyed(codingPath: path)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { self }

    func encodeNil() throws { state.value = .null }
    func encode(_ value: Bool) throws { state.value = .integer(value ? 1 : 0) }
    func encode(_ value: String) throws { state.value = .text(value) }
    func encode(_ value: Double) throws { state.value = try ValueEncoding.real(value, path) }
    func encode(_ value: Float) throws { state.value = try ValueEncoding.real(Double(value), path) }
    func encode(_ value: Int) throws { state.value = try ValueEncoding.integer(value, path) }
    func encode(_ value: Int8) throws { state.value = try ValueEncoding.integer(value, path) }
    func encode(_ value: Int16) throws { state.value = try ValueEncoding.integer(value, path) }
    func encode(_ value: Int32) throws { state.value = try ValueEncoding.integer(value, path) }
    func encode(_ value: Int64) throws { state.value = try ValueEncoding.integer(value, path) }
    func encode(_ value: UInt) throws { state.value = try ValueEncoding.integer(value, path) }
    func encode(_ value: UInt8) throws { state.value = try ValueEncoding.integer(value, path) }
    func encode(_ value: UInt16) throws { state.value = try ValueEncoding.integer(value, path) }
    func encode(_ value: UInt32) throws { state.value = try ValueEncoding.integer(value, path) }
    func encode(_ value: UInt64) throws { state.value = try ValueEncoding.integer(value, path) }
    func encode<T: Encodable>(_ value: T) throws { state.value = try ValueEncoding.encodeValue(value, path: path) }
}

/// Accepts and drops what a value encodes into a container: the value is
/// encoded again, as JSON.
private struct DiscardingContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let codingPath: [any CodingKey]
    mutating func encodeNil(forKey key: Key) throws {}
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {}
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(DiscardingContainer<NestedKey>(codingPath: codingPath))
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer { DiscardingUnkeyed(codingPath: codingPath) }
    mutating func superEncoder() -> any Encoder { ColumnEncoder(path: codingPath) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { ColumnEncoder(path: codingPath) }
}

private struct DiscardingUnkeyed: UnkeyedEncodingContainer {
    let codingPath: [any CodingKey]
    var count = 0
    mutating func encodeNil() throws { count += 1 }
    mutating func encode<T: Encodable>(_ value: T) throws { count += 1 }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(DiscardingContainer<NestedKey>(codingPath: codingPath))
    }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { DiscardingUnkeyed(codingPath: codingPath) }
    mutating func superEncoder() -> any Encoder { ColumnEncoder(path: codingPath) }
}
