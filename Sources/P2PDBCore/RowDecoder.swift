import Foundation

/// Decodes the rows of a query into `Decodable` types: the one mapping from
/// SQLite values to Swift values (``ValueEncoder`` is its inverse).
///
/// A struct decodes from a row by column name; a single value (`Int`,
/// `String`, `Date`, ...) decodes from a row of exactly one column:
///
/// ```swift
/// struct Item: Decodable {
///     var id: String
///     var name: String
///     var stock: Int
///     var note: String?      // NULL, or a column the query does not select
/// }
///
/// let result = try await node.query("SELECT * FROM items")
/// let items = try RowDecoder().decode(Item.self, columns: result.columns, rows: result.rows)
/// let count = try RowDecoder().decode(Int.self, columns: ["n"], row: [.integer(3)])
/// ```
///
/// `StatementResult.decode(_:)` decodes a result's rows, and
/// `Node.query(_:_:_:)` with a type queries and decodes at once.
///
/// ## Conversions
///
/// Decoding is strict: a value of the wrong storage class is an error that
/// names the column and what it holds, never a silent zero or a trap.
///
/// | Swift type | SQLite value |
/// | --- | --- |
/// | `Int`, `Int8` ... `UInt64` | INTEGER in the type's range, or a REAL with no fraction (what a REAL column or `avg()` returns for a whole number) |
/// | `Double`, `Float` | REAL or INTEGER |
/// | `Bool` | INTEGER 0 or 1 |
/// | `String` | TEXT, byte for byte |
/// | `Data`, `[UInt8]` | BLOB |
/// | `Date` | TEXT `YYYY-MM-DD[ HH:MM[:SS[.SSS]]]` (`T` may stand for the space; a trailing `Z` or `±HH:MM` offset is honoured, otherwise UTC), as SQLite's `datetime()` writes and ``ValueEncoder`` stores; or INTEGER/REAL seconds since 1970 (`unixepoch()`) |
/// | `UUID` | TEXT (either case) or a 16-byte BLOB |
/// | `URL` | TEXT |
/// | `Value` | anything, as is |
/// | `Optional` | NULL is `nil`; so is a column the query does not return |
/// | `RawRepresentable` enums | as their raw value |
/// | anything else (`[String]`, nested structs, dictionaries) | TEXT holding JSON, decoded with `JSONDecoder` |
///
/// A column the query does not return is an error for a non-optional
/// property; when two columns share a name (a join of two tables that both
/// have `id`), the leftmost one is used: alias the other (`AS item_id`).
/// Column names match the coding keys exactly, or else ignoring ASCII case,
/// as SQLite matches names.
///
/// Errors are ``P2PDBError`` with kind `.invalidInput`, for example
/// `cannot decode Item from row 3: column "stock" holds TEXT 'many'; Int needs an INTEGER (or a REAL with no fraction)`.
public struct RowDecoder: Sendable {
    public init() {}

    /// Decodes one row, given the names of its columns.
    public func decode<T: Decodable>(_ type: T.Type, columns: [String], row: [Value]) throws(P2PDBError) -> T {
        try decode(type, RowDecoding.ColumnNames(columns), row, index: nil)
    }

    /// Every row of `rows`.
    public func decode<T: Decodable>(_ type: T.Type, columns: [String], rows: [[Value]]) throws(P2PDBError) -> [T] {
        let names = RowDecoding.ColumnNames(columns)
        var decoded: [T] = []
        decoded.reserveCapacity(rows.count)
        for (index, row) in rows.enumerated() { decoded.append(try decode(type, names, row, index: index)) }
        return decoded
    }

    private func decode<T: Decodable>(_ type: T.Type, _ names: RowDecoding.ColumnNames, _ row: [Value], index: Int?) throws(P2PDBError) -> T {
        let place = index.map { " from row \($0 + 1)" } ?? ""
        guard row.count == names.names.count else {
            throw P2PDBError(.invalidInput, "cannot decode \(T.self)\(place): the row has \(row.count) values for \(names.names.count) columns")
        }
        do {
            return try RowDecoding.decodeRow(type, RowDecoding.Row(names: names, values: row))
        } catch {
            throw P2PDBError(.invalidInput, "cannot decode \(T.self)\(place): \(RowDecoding.explain(error))")
        }
    }
}

/// The machinery behind ``RowDecoder``.
enum RowDecoding {
    /// A result's column names, indexed once for all its rows.
    final class ColumnNames {
        let names: [String]
        /// By their bytes (Swift's `==` would take NFC and NFD spellings
        /// for one name, SQLite two), and folded as SQLite folds them; the
        /// leftmost of equal names.
        private let exact: [[UInt8]: Int]
        private let folded: [IdentifierKey: Int]

        init(_ names: [String]) {
            self.names = names
            var exact: [[UInt8]: Int] = [:]
            var folded: [IdentifierKey: Int] = [:]
            for (index, name) in names.enumerated().reversed() {
                exact[Array(name.utf8)] = index
                folded[IdentifierKey(name)] = index
            }
            self.exact = exact
            self.folded = folded
        }

        /// The leftmost column named `name`: exactly, else ignoring ASCII case.
        func index(of name: String) -> Int? {
            exact[Array(name.utf8)] ?? folded[IdentifierKey(name)]
        }
    }

    struct Row {
        let names: ColumnNames
        let values: [Value]

        var columns: [String] { names.names }
        func index(of name: String) -> Int? { names.index(of: name) }
    }

    /// Thrown by a column's decoder when the type asks for a keyed or
    /// unkeyed container: the column holds that value as JSON text.
    struct NeedsJSON: Error {}

    /// Where a column's value came from, for messages.
    struct Place {
        var column: String?
        var codingPath: [any CodingKey]

        var name: String { column.map { "column \"\($0)\"" } ?? "the value" }
    }

    static func decodeRow<T: Decodable>(_ type: T.Type, _ row: Row) throws -> T {
        // Their own `Decodable` conformances are not the mapping to use
        // (a `Date` would decode a number of seconds since 2001).
        if isColumnType(type) { return try RowLevelDecoder(row: row).singleColumn().decode(type) }
        do {
            return try T(from: RowLevelDecoder(row: row))
        } catch is NeedsJSON {
            // An array from the JSON of the only column.
            return try RowLevelDecoder(row: row).singleColumn().decode(type)
        }
    }

    /// Types that always come from one column, whose own `Decodable`
    /// implementation is not the one to use.
    private static func isColumnType<T>(_ type: T.Type) -> Bool {
        type == Value.self || type == Data.self || type == [UInt8].self || type == Date.self || type == UUID.self
            || type == URL.self || type == Decimal.self
    }

    // MARK: One value

    /// Decodes `value` as `T`: the conversions of the table in ``RowDecoder``.
    static func decodeValue<T: Decodable>(_ type: T.Type, _ value: Value, _ place: Place) throws -> T {
        if let special = try decodeSpecial(type, value, place) { return special }
        do {
            return try T(from: ColumnDecoder(value: value, place: place))
        } catch is NeedsJSON {
            guard case .text(let text) = value else {
                if value.isNull { throw null(T.self, place) }
                throw mismatch(T.self, value, place, needs: "TEXT holding JSON")
            }
            do {
                let json = JSONDecoder()
                // Dates inside JSON in the text form ValueEncoder writes there too.
                json.dateDecodingStrategy = .custom { decoder in
                    let container = try decoder.singleValueContainer()
                    let text = try container.decode(String.self)
                    guard let date = DateText.parse(text) else {
                        throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(text) is not a date YYYY-MM-DD HH:MM:SS.SSS")
                    }
                    return date
                }
                return try json.decode(T.self, from: Data(text.utf8))
            } catch {
                throw DecodingError.dataCorrupted(
                    .init(
                        codingPath: place.codingPath,
                        debugDescription: "\(place.name) holds TEXT \(preview(value)) that is not JSON for \(T.self): \(explain(error))"))
            }
        }
    }

    private static func decodeSpecial<T>(_ type: T.Type, _ value: Value, _ place: Place) throws -> T? {
        if type == Value.self { return value as? T }
        if type == Data.self { return try Data(blob(T.self, value, place)) as? T }
        if type == [UInt8].self { return try blob(T.self, value, place) as? T }
        if type == Date.self { return try date(value, place) as? T }
        if type == UUID.self { return try uuid(value, place) as? T }
        if type == URL.self {
            guard case .text(let text) = value else { throw problem(T.self, value, place, needs: "TEXT") }
            guard let url = URL(string: text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: place.codingPath, debugDescription: "\(place.name) holds TEXT \(preview(value)) that is not a URL"))
            }
            return url as? T
        }
        if type == Decimal.self {
            switch value {
            case .integer(let integer): return Decimal(integer) as? T
            case .real(let real) where real.isFinite: return Decimal(real) as? T
            case .text(let text):
                if let decimal = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) { return decimal as? T }
                throw DecodingError.dataCorrupted(.init(codingPath: place.codingPath, debugDescription: "\(place.name) holds TEXT \(preview(value)) that is not a decimal number"))
            default: throw problem(T.self, value, place, needs: "an INTEGER, REAL or TEXT number")
            }
        }
        return nil
    }

    private static func blob<T>(_ type: T.Type, _ value: Value, _ place: Place) throws -> [UInt8] {
        guard case .blob(let bytes) = value else { throw problem(type, value, place, needs: "a BLOB") }
        return bytes
    }

    static func integer<I: FixedWidthInteger>(_ type: I.Type, _ value: Value, _ place: Place) throws -> I {
        let whole: Int64
        switch value {
        case .integer(let integer): whole = integer
        case .real(let real):
            guard let exact = Int64(exactly: real) else {
                throw mismatch(type, value, place, needs: "an INTEGER (or a REAL with no fraction)")
            }
            whole = exact
        default: throw problem(type, value, place, needs: "an INTEGER (or a REAL with no fraction)")
        }
        guard let fitted = I(exactly: whole) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: place.codingPath, debugDescription: "\(place.name) holds \(whole), outside the range of \(I.self) (\(I.min)...\(I.max))"))
        }
        return fitted
    }

    static func double(_ type: Any.Type, _ value: Value, _ place: Place) throws -> Double {
        switch value {
        case .real(let real): return real
        case .integer(let integer): return Double(integer)
        default: throw problem(type, value, place, needs: "a REAL or INTEGER")
        }
    }

    static func float(_ value: Value, _ place: Place) throws -> Float {
        let real = try double(Float.self, value, place)
        let narrowed = Float(real)
        guard narrowed.isFinite || !real.isFinite else {
            throw DecodingError.dataCorrupted(.init(codingPath: place.codingPath, debugDescription: "\(place.name) holds \(real), outside the range of Float"))
        }
        return narrowed
    }

    static func bool(_ value: Value, _ place: Place) throws -> Bool {
        switch try integer(Int64.self, value, place) {
        case 0: return false
        case 1: return true
        case let other:
            throw DecodingError.dataCorrupted(.init(codingPath: place.codingPath, debugDescription: "\(place.name) holds \(other); Bool needs 0 or 1"))
        }
    }

    static func string(_ value: Value, _ place: Place) throws -> String {
        guard case .text(let text) = value else { throw problem(String.self, value, place, needs: "TEXT") }
        return text
    }

    private static func uuid(_ value: Value, _ place: Place) throws -> UUID {
        switch value {
        case .text(let text):
            if let uuid = UUID(uuidString: text) { return uuid }
        case .blob(let bytes) where bytes.count == 16:
            return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
        default:
            throw problem(UUID.self, value, place, needs: "TEXT or a 16-byte BLOB")
        }
        throw DecodingError.dataCorrupted(.init(codingPath: place.codingPath, debugDescription: "\(place.name) holds TEXT \(preview(value)) that is not a UUID"))
    }

    // MARK: Dates

    private static func date(_ value: Value, _ place: Place) throws -> Date {
        switch value {
        case .integer(let seconds): return Date(timeIntervalSince1970: TimeInterval(seconds))
        case .real(let seconds) where seconds.isFinite: return Date(timeIntervalSince1970: seconds)
        case .text(let text):
            if let date = DateText.parse(text) { return date }
            throw DecodingError.dataCorrupted(
                .init(codingPath: place.codingPath, debugDescription: "\(place.name) holds TEXT \(preview(value)); Date needs YYYY-MM-DD[ HH:MM[:SS[.SSS]]][Z|±HH:MM]"))
        default:
            throw problem(Date.self, value, place, needs: "TEXT (YYYY-MM-DD HH:MM:SS) or a number of seconds since 1970")
        }
    }

    // MARK: Errors

    /// `valueNotFound` for NULL, `typeMismatch` for anything else.
    static func problem(_ type: Any.Type, _ value: Value, _ place: Place, needs: String) -> DecodingError {
        value.isNull ? null(type, place) : mismatch(type, value, place, needs: needs)
    }

    static func mismatch(_ type: Any.Type, _ value: Value, _ place: Place, needs: String) -> DecodingError {
        .typeMismatch(type, .init(codingPath: place.codingPath, debugDescription: "\(place.name) holds \(value.typeName.uppercased()) \(preview(value)); \(type) needs \(needs)"))
    }

    static func null(_ type: Any.Type, _ place: Place) -> DecodingError {
        let column = place.column ?? "column"
        return .valueNotFound(
            type,
            .init(
                codingPath: place.codingPath,
                debugDescription: "\(place.name) is NULL; declare the property optional (\(type)?) or select a value (COALESCE(\(column), ...))"))
    }

    /// The value as SQL, cut short.
    static func preview(_ value: Value) -> String {
        let text = value.description
        return text.count > 40 ? String(text.prefix(37)) + "..." : text
    }

    /// A decoding error as one line.
    static func explain(_ error: any Error) -> String {
        switch error {
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
            DecodingError.keyNotFound(_, let context), DecodingError.dataCorrupted(let context):
            return context.debugDescription
        case let error as P2PDBError: return error.message
        default: return String(describing: error)
        }
    }
}

// MARK: - Decoders

/// Decodes a struct from a whole row, keyed by column name.
private struct RowLevelDecoder: Decoder {
    let row: RowDecoding.Row
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(RowContainer<Key>(row: row))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        if row.values.count == 1 { throw RowDecoding.NeedsJSON() }
        throw DecodingError.typeMismatch(
            [Value].self,
            .init(codingPath: [], debugDescription: "a row of \(row.values.count) columns decodes into a struct, by column name, not into an array; select one column that holds a JSON array"))
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { try singleColumn() }

    func singleColumn() throws -> ColumnDecoder {
        guard row.values.count == 1 else {
            throw DecodingError.typeMismatch(
                Value.self,
                .init(
                    codingPath: [],
                    debugDescription: "a single value decodes from a single column, and the query returns \(row.values.count) (\(row.columns.joined(separator: ", "))); select one column"))
        }
        return ColumnDecoder(value: row.values[0], place: RowDecoding.Place(column: row.columns[0], codingPath: []))
    }
}

private struct RowContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let row: RowDecoding.Row
    var codingPath: [any CodingKey] { [] }
    var allKeys: [Key] { row.columns.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { row.index(of: key.stringValue) != nil }

    private func column(_ key: Key) throws -> ColumnDecoder {
        guard let index = row.index(of: key.stringValue) else {
            throw DecodingError.keyNotFound(
                key,
                .init(
                    codingPath: [key],
                    debugDescription:
                        "the query returns no column \"\(key.stringValue)\" (it returns \(row.columns.isEmpty ? "none" : row.columns.joined(separator: ", "))); select it, alias an expression (AS \(key.stringValue)), or make the property optional"
                ))
        }
        return ColumnDecoder(value: row.values[index], place: RowDecoding.Place(column: row.columns[index], codingPath: [key]))
    }

    func decodeNil(forKey key: Key) throws -> Bool { try column(key).decodeNil() }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try column(key).decode(type) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try column(key).decode(type) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try column(key).decode(type) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try column(key).decode(type) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try column(key).decode(type) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try column(key).decode(type) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try column(key).decode(type) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try column(key).decode(type) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try column(key).decode(type) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try column(key).decode(type) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try column(key).decode(type) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try column(key).decode(type) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try column(key).decode(type) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try column(key).decode(type) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try column(key).decode(type) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try column(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer { try column(key).unkeyedContainer() }

    /// The same row: a subclass and its superclass decode from one row.
    func superDecoder() throws -> any Decoder { RowLevelDecoder(row: row) }
    func superDecoder(forKey key: Key) throws -> any Decoder { try column(key) }
}

/// Decodes one column's value.
private struct ColumnDecoder: Decoder, SingleValueDecodingContainer {
    let value: Value
    let place: RowDecoding.Place
    var codingPath: [any CodingKey] { place.codingPath }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> { throw RowDecoding.NeedsJSON() }
    func unkeyedContainer() throws -> any UnkeyedDecodingContainer { throw RowDecoding.NeedsJSON() }
    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func decodeNil() -> Bool { value.isNull }
    func decode(_ type: Bool.Type) throws -> Bool { try RowDecoding.bool(value, place) }
    func decode(_ type: String.Type) throws -> String { try RowDecoding.string(value, place) }
    func decode(_ type: Double.Type) throws -> Double { try RowDecoding.double(type, value, place) }
    func decode(_ type: Float.Type) throws -> Float { try RowDecoding.float(value, place) }
    func decode(_ type: Int.Type) throws -> Int { try RowDecoding.integer(type, value, place) }
    func decode(_ type: Int8.Type) throws -> Int8 { try RowDecoding.integer(type, value, place) }
    func decode(_ type: Int16.Type) throws -> Int16 { try RowDecoding.integer(type, value, place) }
    func decode(_ type: Int32.Type) throws -> Int32 { try RowDecoding.integer(type, value, place) }
    func decode(_ type: Int64.Type) throws -> Int64 { try RowDecoding.integer(type, value, place) }
    func decode(_ type: UInt.Type) throws -> UInt { try RowDecoding.integer(type, value, place) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try RowDecoding.integer(type, value, place) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try RowDecoding.integer(type, value, place) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try RowDecoding.integer(type, value, place) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try RowDecoding.integer(type, value, place) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try RowDecoding.decodeValue(type, value, place) }
}

// MARK: - Date text

/// The text form of dates: what ``ValueEncoder`` writes
/// (`YYYY-MM-DD HH:MM:SS.SSS`, UTC, as SQLite's date functions read and
/// write it) and what ``RowDecoder`` reads.
enum DateText {
    /// The dates the text form holds: years 0000 to 9999, as SQLite's.
    static let range = Date(timeIntervalSince1970: -62_167_219_200)...Date(timeIntervalSince1970: 253_402_300_799.999)

    /// The text of a date in ``range``.
    static func format(_ date: Date) -> String {
        // To the nearest millisecond: the text of a whole millisecond is
        // exact, and later dates never get earlier text.
        let total = Int64(exactly: (date.timeIntervalSince1970 * 1000).rounded()) ?? 0
        let (days, dayMilliseconds) = floorDivide(total, 86_400_000)
        let (year, month, day) = civil(fromDays: days)
        let seconds = dayMilliseconds / 1000
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let fraction = dayMilliseconds % 1000
        let millis = fraction < 10 ? "00\(fraction)" : fraction < 100 ? "0\(fraction)" : "\(fraction)"
        let yearText = String(repeating: "0", count: max(0, 4 - String(year).count)) + String(year)
        return "\(yearText)-\(two(month))-\(two(day)) \(two(seconds / 3600)):\(two(seconds / 60 % 60)):\(two(seconds % 60)).\(millis)"
    }

    static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        var index = 0
        func number(_ digits: Int) -> Int64? {
            guard index + digits <= bytes.count else { return nil }
            var result: Int64 = 0
            for byte in bytes[index..<index + digits] {
                guard (0x30...0x39).contains(byte) else { return nil }
                result = result * 10 + Int64(byte - 0x30)
            }
            index += digits
            return result
        }
        func take(_ character: Character) -> Bool {
            guard index < bytes.count, let ascii = character.asciiValue, bytes[index] == ascii else { return false }
            index += 1
            return true
        }
        guard let year = number(4), take("-"), let month = number(2), take("-"), let day = number(2),
            (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        // Whole seconds and a fraction kept as integers, so that the text
        // of a whole millisecond gives back exactly the date it was made of.
        var seconds: Int64 = 0
        var fraction: Int64 = 0
        var fractionScale: Int64 = 1
        if index < bytes.count, take(" ") || take("T") {
            guard let hour = number(2), take(":"), let minute = number(2), hour < 24, minute < 60 else { return nil }
            seconds = hour * 3600 + minute * 60
            if take(":") {
                guard let second = number(2), second < 60 else { return nil }
                seconds += second
                if take(".") {
                    let start = index
                    while index < bytes.count, (0x30...0x39).contains(bytes[index]) {
                        // Digits past the nanosecond are dropped.
                        if fractionScale < 1_000_000_000 {
                            fraction = fraction * 10 + Int64(bytes[index] - 0x30)
                            fractionScale *= 10
                        }
                        index += 1
                    }
                    guard index > start else { return nil }
                }
            }
            if take("Z") {
            } else if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                let sign: Int64 = bytes[index] == UInt8(ascii: "+") ? 1 : -1
                index += 1
                guard let hours = number(2), take(":"), let minutes = number(2), hours < 24, minutes < 60 else { return nil }
                seconds -= sign * (hours * 3600 + minutes * 60)
            }
        }
        guard index == bytes.count else { return nil }
        let whole = days(fromCivil: year, month, day) * 86_400 + seconds
        if fractionScale <= 1000 {
            let milliseconds = whole * 1000 + fraction * (1000 / fractionScale)
            return Date(timeIntervalSince1970: Double(milliseconds) / 1000)
        }
        return Date(timeIntervalSince1970: Double(whole) + Double(fraction) / Double(fractionScale))
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let quotient = a / b - (a % b < 0 ? 1 : 0)
        return (quotient, a - quotient * b)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    private static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
