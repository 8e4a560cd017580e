import GRDB
import GRDBSQLite
import P2PDB

/// Plain SQLite, which a differential case runs beside a single replica:
/// the same statements, the same CREATE TABLE text, no P2PDB in between.
///
/// Statements run through SQLite's C API so that values come back exactly
/// (GRDB reads text with C string functions, which stop at a NUL).
final class ReferenceDatabase: Sendable {
    private let queue: DatabaseQueue

    /// What one statement returned.
    struct StatementOutcome: Sendable {
        var columns: [String]
        var rows: [[Value]]
        var changes: Int
        var isQuery: Bool
    }

    struct Failure: Error, Sendable {
        var message: String
    }

    init() throws {
        var configuration = Configuration()
        // As on a replica's local writes.
        configuration.foreignKeysEnabled = true
        // A transaction stays open between `run` and `finish(commit:)`.
        configuration.allowsUnsafeTransactions = true
        queue = try DatabaseQueue(configuration: configuration)
    }

    /// Opens a transaction and runs `statements` in it (BEGIN and COMMIT
    /// of the script are left out: the transaction is this one). On failure
    /// the transaction is rolled back; on success it stays open for
    /// `finish(commit:)`.
    func run(_ statements: [ScriptStatement]) -> Result<[StatementOutcome], Failure> {
        queue.inDatabase { db in
            guard let connection = db.sqliteConnection else { return .failure(Failure(message: "no SQLite connection")) }
            do {
                _ = try Self.execute("BEGIN", [], connection)
                var outcomes: [StatementOutcome] = []
                for statement in statements where statement.role == .other {
                    outcomes.append(try Self.execute(statement.sql, statement.parameters, connection))
                }
                // COMMIT would fail over deferred foreign keys left dangling.
                var deferred: Int32 = 0
                var highwater: Int32 = 0
                sqlite3_db_status(connection, SQLITE_DBSTATUS_DEFERRED_FKS, &deferred, &highwater, 0)
                if deferred > 0 { throw Failure(message: "FOREIGN KEY constraint failed") }
                return .success(outcomes)
            } catch let failure as Failure {
                _ = try? Self.execute("ROLLBACK", [], connection)
                return .failure(failure)
            } catch {
                _ = try? Self.execute("ROLLBACK", [], connection)
                return .failure(Failure(message: String(describing: error)))
            }
        }
    }

    /// Whether the open transaction leaves a reference dangling: SQLite
    /// lets some through (an INSERT OR REPLACE whose deferred reference
    /// dangles) that P2PDB may refuse.
    func leavesDanglingReferences() -> Bool {
        queue.inDatabase { db in
            guard let connection = db.sqliteConnection else { return false }
            return (try? Self.execute("PRAGMA foreign_key_check", [], connection).rows.isEmpty) == false
        }
    }

    /// Whether the database has a trigger.
    func hasTriggers() -> Bool {
        (try? query("SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'", []).first?.first) != .integer(0)
    }

    /// Whether the database has a trigger or a foreign key.
    func hasTriggersOrForeignKeys() -> Bool {
        hasTriggers()
            || (try? query(
                "SELECT count(*) FROM sqlite_schema AS s, pragma_foreign_key_list(s.name) WHERE s.type = 'table'", []).first?.first)
                != .integer(0)
    }

    func finish(commit: Bool) {
        queue.inDatabase { db in
            guard let connection = db.sqliteConnection, sqlite3_get_autocommit(connection) == 0 else { return }
            _ = try? Self.execute(commit ? "COMMIT" : "ROLLBACK", [], connection)
        }
    }

    func query(_ sql: String, _ parameters: [Value]) throws -> [[Value]] {
        try queue.inDatabase { db in
            guard let connection = db.sqliteConnection else { throw Failure(message: "no SQLite connection") }
            return try Self.execute(sql, parameters, connection).rows
        }
    }

    // MARK: The C API

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    private static func execute(_ sql: String, _ parameters: [Value], _ connection: OpaquePointer) throws -> StatementOutcome {
        var handle: OpaquePointer?
        guard sqlite3_prepare_v2(connection, sql, -1, &handle, nil) == SQLITE_OK, let statement = handle else {
            sqlite3_finalize(handle)
            throw Failure(message: String(cString: sqlite3_errmsg(connection)))
        }
        defer { sqlite3_finalize(statement) }
        guard Int(sqlite3_bind_parameter_count(statement)) == parameters.count else {
            throw Failure(message: "the statement takes \(sqlite3_bind_parameter_count(statement)) parameters, \(parameters.count) given")
        }
        for (offset, value) in parameters.enumerated() { bind(value, at: Int32(offset + 1), statement) }
        var rows: [[Value]] = []
        while true {
            let code = sqlite3_step(statement)
            if code == SQLITE_DONE { break }
            guard code == SQLITE_ROW else { throw Failure(message: String(cString: sqlite3_errmsg(connection))) }
            rows.append((0..<sqlite3_column_count(statement)).map { column(Int32($0), statement) })
        }
        let columnCount = sqlite3_column_count(statement)
        let columns = (0..<columnCount).map { sqlite3_column_name(statement, $0).map { String(cString: $0) } ?? "" }
        let changes = sqlite3_stmt_readonly(statement) != 0 ? 0 : Int(sqlite3_changes(connection))
        return StatementOutcome(columns: columns, rows: rows, changes: changes, isQuery: columnCount > 0)
    }

    private static func bind(_ value: Value, at index: Int32, _ statement: OpaquePointer) {
        switch value {
        case .null: sqlite3_bind_null(statement, index)
        case .integer(let integer): sqlite3_bind_int64(statement, index, integer)
        case .real(let real): sqlite3_bind_double(statement, index, real)
        case .text(let text):
            let bytes = Array(text.utf8)
            guard !bytes.isEmpty else {
                sqlite3_bind_text(statement, index, "", 0, nil)
                return
            }
            bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) {
                    _ = sqlite3_bind_text(statement, index, $0.baseAddress, Int32(bytes.count), transient)
                }
            }
        case .blob(let blob):
            if blob.isEmpty {
                sqlite3_bind_zeroblob(statement, index, 0)
            } else {
                blob.withUnsafeBytes { _ = sqlite3_bind_blob(statement, index, $0.baseAddress, Int32(blob.count), transient) }
            }
        }
    }

    private static func column(_ index: Int32, _ statement: OpaquePointer) -> Value {
        switch sqlite3_column_type(statement, index) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(statement, index))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(statement, index))
        case SQLITE_TEXT:
            guard let text = sqlite3_column_text(statement, index) else { return .text("") }
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(statement, index))), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(statement, index))
            guard count > 0, let blob = sqlite3_column_blob(statement, index) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: blob, count: count)))
        default: return .null
        }
    }
}
