import GRDBSQLite

/// Whether SQL text ends with a complete statement, by SQLite's own rules
/// (a semicolon outside strings, comments and trigger bodies). Used by the
/// interactive shell to know when to run what was typed.
public enum SQLCompleteness {
    public static func isComplete(_ sql: String) -> Bool {
        sqlite3_complete(sql) != 0
    }
}
