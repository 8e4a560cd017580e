import GRDB
import P2PDBCore

/// A row that breaks a FOREIGN KEY or CHECK constraint of its table.
///
/// Local writes are checked as SQLite checks them, so such a row comes from
/// a merge: a sale line whose product another register deleted meanwhile,
/// a stock that two registers' sales took below `CHECK (stock >= 0)`.
/// Merges never refuse such rows (every replica would have to agree to
/// refuse, and none can undo a sale it already made); they are reported
/// here, for the application or a person to resolve with ordinary writes.
public struct ConstraintProblem: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The row's foreign key names a parent row that does not exist.
        case danglingReference(parentTable: String, columns: [String])
        /// The row's values make the CHECK expression false.
        case failedCheck(constraint: String)
    }

    public var table: String
    /// The row's primary key values.
    public var key: [Value]
    public var kind: Kind

    public init(table: String, key: [Value], kind: Kind) {
        self.table = table
        self.key = key
        self.kind = kind
    }

    public var description: String {
        let key = self.key.map(\.description).joined(separator: ", ")
        switch kind {
        case .danglingReference(let parent, let columns):
            return "\(table) (\(key)): \(columns.joined(separator: ", ")) refers to a row of \(parent) that does not exist"
        case .failedCheck(let constraint):
            return "\(table) (\(key)): CHECK constraint fails: \(constraint)"
        }
    }
}

/// Finds the rows that break their table's constraints, with one query
/// per constraint built from the replicated definitions.
enum ConstraintReport {
    /// Rows reported per constraint at most: a merge that orphaned a
    /// million rows needs one line to say so, not a million.
    static let limitPerConstraint = 1000

    static func problems(_ db: Database, schema: ReplicatedSchema) throws -> [ConstraintProblem] {
        var problems: [ConstraintProblem] = []
        for table in schema.tables.values.sorted(by: { $0.key < $1.key }) {
            let keys = table.primaryKey.map(SQLText.quoteIdentifier).joined(separator: ", ")
            let name = SQLText.quoteIdentifier(table.name)
            for check in table.checks {
                let sql = "SELECT \(keys) FROM main.\(name) WHERE NOT \(check.expression) ORDER BY \(keys) LIMIT \(limitPerConstraint)"
                for key in try rows(sql, db) {
                    problems.append(ConstraintProblem(table: table.name, key: key, kind: .failedCheck(constraint: check.label)))
                }
            }
            for foreignKey in table.foreignKeys {
                let parent = schema.table(named: foreignKey.parentTable)
                let parentColumns = foreignKey.parentColumns.isEmpty ? (parent?.primaryKey ?? []) : foreignKey.parentColumns
                let present = foreignKey.columns.map { "child.\(SQLText.quoteIdentifier($0)) IS NOT NULL" }
                var condition = present.joined(separator: " AND ")
                if let parent, parentColumns.count == foreignKey.columns.count {
                    let matches = zip(foreignKey.columns, parentColumns).map {
                        "parent.\(SQLText.quoteIdentifier($1)) = child.\(SQLText.quoteIdentifier($0))"
                    }
                    condition += " AND NOT EXISTS (SELECT 1 FROM main.\(SQLText.quoteIdentifier(parent.name)) AS parent WHERE \(matches.joined(separator: " AND ")))"
                }
                let childKeys = table.primaryKey.map { "child." + SQLText.quoteIdentifier($0) }.joined(separator: ", ")
                let sql = "SELECT \(childKeys) FROM main.\(name) AS child WHERE \(condition) ORDER BY \(childKeys) LIMIT \(limitPerConstraint)"
                for key in try rows(sql, db) {
                    problems.append(
                        ConstraintProblem(
                            table: table.name, key: key,
                            kind: .danglingReference(parentTable: foreignKey.parentTable, columns: foreignKey.columns)))
                }
            }
        }
        return problems
    }

    private static func rows(_ sql: String, _ db: Database) throws -> [[Value]] {
        let statement: Statement
        do {
            statement = try db.makeStatement(sql: sql)
        } catch {
            // A constraint another replica wrote that this SQLite cannot
            // evaluate is not enforced here either; nothing to report.
            return []
        }
        var rows: [[Value]] = []
        while try statement.stepRaw() { rows.append(statement.currentRowRaw()) }
        return rows
    }
}
