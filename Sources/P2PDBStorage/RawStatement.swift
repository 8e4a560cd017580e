import GRDB
import GRDBSQLite
import P2PDBCore

/// Binding, stepping and reading GRDB-prepared statements through the C API.
///
/// GRDB prepares and caches statements; the per-row work of the write and
/// apply paths binds and steps them directly, which avoids building
/// `StatementArguments` and `Row` values for every row. A statement used
/// this way is always reset and rebound here before it runs.
extension Statement {
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// Resets the statement and binds `values` to its parameters, in order.
    func bindRaw(_ values: [P2PDBCore.Value]) throws {
        let handle = sqliteStatement
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        let expected = Int(sqlite3_bind_parameter_count(handle))
        guard expected == values.count else {
            throw P2PDBError(
                .invalidParameters,
                "wrong number of statement parameters: the statement takes \(expected), \(values.count) given")
        }
        for (offset, value) in values.enumerated() { try bindRaw(value, at: Int32(offset + 1)) }
    }

    /// Binds as many of `parameters` as the statement takes, starting at
    /// `next`, and advances `next`.
    func bindRaw(from parameters: [P2PDBCore.Value], next: inout Int) throws {
        let handle = sqliteStatement
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        let count = Int(sqlite3_bind_parameter_count(handle))
        guard next + count <= parameters.count else {
            throw P2PDBError(
                .invalidParameters,
                "wrong number of statement parameters: the SQL takes at least \(next + count), \(parameters.count) given")
        }
        for index in 0..<count { try bindRaw(parameters[next + index], at: Int32(index + 1)) }
        next += count
    }

    private func bindRaw(_ value: P2PDBCore.Value, at index: Int32) throws {
        let handle = sqliteStatement
        let code: Int32
        switch value {
        case .null:
            code = sqlite3_bind_null(handle, index)
        case .integer(let integer):
            code = sqlite3_bind_int64(handle, index, integer)
        case .real(let real):
            code = sqlite3_bind_double(handle, index, real)
        case .text(var text):
            code = text.withUTF8 { utf8 in
                guard let base = utf8.baseAddress, !utf8.isEmpty else { return sqlite3_bind_text(handle, index, "", 0, nil) }
                return base.withMemoryRebound(to: CChar.self, capacity: utf8.count) {
                    sqlite3_bind_text(handle, index, $0, Int32(utf8.count), Self.transient)
                }
            }
        case .blob(let bytes):
            code = bytes.withUnsafeBytes { raw in
                guard let base = raw.baseAddress, !raw.isEmpty else { return sqlite3_bind_zeroblob(handle, index, 0) }
                return sqlite3_bind_blob(handle, index, base, Int32(raw.count), Self.transient)
            }
        }
        guard code == SQLITE_OK else {
            throw P2PDBError(code == SQLITE_TOOBIG ? .invalidInput : .invalidParameters, "cannot bind parameter \(index): SQLite error \(code)")
        }
    }

    /// Steps once; true when a row is available.
    func stepRaw() throws -> Bool {
        let handle = sqliteStatement
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let code:
            let connection = sqlite3_db_handle(handle)
            let message = String(cString: sqlite3_errmsg(connection))
            let extended = sqlite3_extended_errcode(connection)
            sqlite3_reset(handle)
            throw DatabaseError(resultCode: ResultCode(rawValue: extended != 0 ? extended : code), message: message)
        }
    }

    /// Runs to completion with the bindings it has, discarding rows.
    func executeRaw() throws {
        sqlite3_reset(sqliteStatement)
        while try stepRaw() {}
        sqlite3_reset(sqliteStatement)
    }

    /// Runs to completion, discarding rows.
    func runRaw(_ values: [P2PDBCore.Value]) throws {
        try bindRaw(values)
        while try stepRaw() {}
        sqlite3_reset(sqliteStatement)
    }

    /// Runs and returns the first row's values, if any.
    func firstRowRaw(_ values: [P2PDBCore.Value]) throws -> [P2PDBCore.Value]? {
        try bindRaw(values)
        defer { sqlite3_reset(sqliteStatement) }
        guard try stepRaw() else { return nil }
        return currentRowRaw()
    }

    func currentRowRaw() -> [P2PDBCore.Value] {
        let count = sqlite3_column_count(sqliteStatement)
        var row: [P2PDBCore.Value] = []
        row.reserveCapacity(Int(count))
        for column in 0..<count { row.append(columnRaw(column)) }
        return row
    }

    func columnRaw(_ column: Int32) -> P2PDBCore.Value {
        let handle = sqliteStatement
        switch sqlite3_column_type(handle, column) {
        case SQLITE_INTEGER:
            return .integer(sqlite3_column_int64(handle, column))
        case SQLITE_FLOAT:
            return .real(sqlite3_column_double(handle, column))
        case SQLITE_TEXT:
            guard let text = sqlite3_column_text(handle, column) else { return .text("") }
            let count = Int(sqlite3_column_bytes(handle, column))
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(handle, column))
            guard count > 0, let blob = sqlite3_column_blob(handle, column) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: blob, count: count)))
        default:
            return .null
        }
    }

    /// The result's column names as SQLite reports them now; GRDB's
    /// `columnNames` keeps the first ones it saw, even across a schema change.
    var currentColumnNames: [String] {
        (0..<sqlite3_column_count(sqliteStatement)).map { column in
            sqlite3_column_name(sqliteStatement, column).map { String(cString: $0) } ?? ""
        }
    }

    /// The statement's SQL as SQLite holds it, cheaper than `sql`.
    var rawSQL: String {
        guard let text = sqlite3_sql(sqliteStatement) else { return "" }
        return String(cString: text)
    }
}

extension Database {
    /// Runs one fixed statement (SAVEPOINT, RELEASE, BEGIN, COMMIT) from
    /// the statement cache: the hot paths run them for every transaction
    /// and every applied entry, and parsing them each time showed up.
    func run(_ sql: String) throws {
        try cachedStatement(sql: sql).execute()
    }
}
