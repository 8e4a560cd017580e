import GRDB
import GRDBSQLite
import P2PDBCore

/// A row named by its table and primary key, as a row change names it.
public struct RowKey: Hashable, Sendable {
    public var table: String
    public var columns: [String]
    public var values: [Value]

    public init(table: String, columns: [String], values: [Value]) {
        self.table = table
        self.columns = columns
        self.values = values
    }
}

extension ReplicaStore {
    /// The rows with these keys as a reader sees them now, all read in one
    /// snapshot: column names and values of each, or nil for a key with no
    /// row (deleted since, or its table dropped). What a change feed sends
    /// with `include_rows`.
    public func currentRows(_ keys: [RowKey]) async throws -> [[(String, Value)]?] {
        guard !keys.isEmpty else { return [] }
        return try await read { db in
            var statements: [String: Statement] = [:]
            return try keys.map { key -> [(String, Value)]? in
                guard !key.columns.isEmpty, key.columns.count == key.values.count else { return nil }
                let sql = "SELECT * FROM \(SQLText.quoteIdentifier(key.table)) WHERE "
                    + key.columns.map { "\(SQLText.quoteIdentifier($0)) IS ?" }.joined(separator: " AND ")
                guard let statement = statements[sql] ?? (try? db.makeStatement(sql: sql)) else { return nil }
                statements[sql] = statement
                statement.setUncheckedArguments(StatementArguments(values: key.values))
                defer { sqlite3_reset(statement.sqliteStatement) }
                guard try statement.stepRaw() else { return nil }
                return Array(zip(statement.currentColumnNames, statement.currentRowRaw()))
            }
        }
    }
}
