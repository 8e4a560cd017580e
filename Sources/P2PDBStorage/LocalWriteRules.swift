import CSQLiteExtras
import GRDB
import GRDBSQLite
import P2PDBCore

/// What SQLite enforces on a node's own writes and never while other
/// replicas' entries are merged: FOREIGN KEY constraints with their ON
/// DELETE and ON UPDATE actions, CHECK constraints, and user triggers.
///
/// An entry carries the rows a write changed, cascades and trigger effects
/// included, so a replica that merges it must not run them again; and a
/// merge must never fail, so a child whose parent another replica deleted
/// stays, and so does a stock that concurrent sales took below a CHECK.
/// Such rows are reported by ``ConstraintReport``.
///
/// Constraints are switched with SQLite's own settings (foreign keys through
/// `sqlite3_db_config`, which works inside a transaction, and
/// `ignore_check_constraints`), lazily: switching makes SQLite prepare its
/// statements again, so a run of local writes pays for it once.
///
/// Triggers cannot be switched alone (the capture triggers must keep
/// firing), so each user trigger is created with a gate in its WHEN clause
/// (``physicalSQL(of:)``): it fires only while a user statement runs, and
/// not while it is already running, as SQLite's triggers behave with
/// `recursive_triggers` off (which the change capture needs on).
final class LocalWriteRules {
    static let enterFunction = "_p2pdb_trigger_enter"
    static let exitFunction = "_p2pdb_trigger_exit"

    private(set) var enforcing = false
    /// What `last_insert_rowid()` says to the next user statement: the key
    /// of the last row a user statement inserted, as in plain SQLite. The
    /// rows P2PDB writes itself (the log, row metadata) would change it.
    private var userLastInsertRowID: Int64 = 0
    private var runningUserStatement = false
    private var activeTriggers: Set<[UInt8]> = []

    /// Registers the gate functions on the writer connection.
    func install(on connection: OpaquePointer) throws {
        let context = Unmanaged.passUnretained(self).toOpaque()
        var code = sqlite3_create_function_v2(
            connection, Self.enterFunction, 1, SQLITE_UTF8 | SQLITE_INNOCUOUS, context,
            { context, _, arguments in
                guard let context, let pointer = sqlite3_user_data(context), let name = arguments?[0] else { return }
                let rules = Unmanaged<LocalWriteRules>.fromOpaque(pointer).takeUnretainedValue()
                sqlite3_result_int(context, rules.enter(LocalWriteRules.bytes(of: name)) ? 1 : 0)
            }, nil, nil, nil)
        guard code == SQLITE_OK else { throw P2PDBError(.storage, "could not register the trigger gate (SQLite code \(code))") }
        code = sqlite3_create_function_v2(
            connection, Self.exitFunction, 1, SQLITE_UTF8 | SQLITE_INNOCUOUS, context,
            { context, _, arguments in
                guard let context, let pointer = sqlite3_user_data(context), let name = arguments?[0] else { return }
                Unmanaged<LocalWriteRules>.fromOpaque(pointer).takeUnretainedValue().activeTriggers.remove(LocalWriteRules.bytes(of: name))
                sqlite3_result_null(context)
            }, nil, nil, nil)
        guard code == SQLITE_OK else { throw P2PDBError(.storage, "could not register the trigger gate (SQLite code \(code))") }
        guard sqlite3_exec(connection, "PRAGMA ignore_check_constraints = ON", nil, nil, nil) == SQLITE_OK else {
            throw P2PDBError(.storage, "could not configure CHECK constraints")
        }
    }

    /// The gate functions for connections that never run user writes
    /// (readers, the scratch replica of `verify`): triggers never fire.
    static func installClosedGate(on connection: OpaquePointer) throws {
        for name in [enterFunction, exitFunction] {
            let code = sqlite3_create_function_v2(
                connection, name, 1, SQLITE_UTF8 | SQLITE_INNOCUOUS | SQLITE_DETERMINISTIC, nil,
                { context, _, _ in sqlite3_result_int(context, 0) }, nil, nil, nil)
            guard code == SQLITE_OK else { throw P2PDBError(.storage, "could not register \(name) (SQLite code \(code))") }
        }
    }

    fileprivate static func bytes(of value: OpaquePointer) -> [UInt8] {
        guard let text = sqlite3_value_text(value) else { return [] }
        return Array(UnsafeBufferPointer(start: text, count: Int(sqlite3_value_bytes(value))))
    }

    fileprivate func enter(_ trigger: [UInt8]) -> Bool {
        runningUserStatement && activeTriggers.insert(trigger).inserted
    }

    /// Turns foreign keys and CHECK constraints on (for a user statement,
    /// when the schema has any) or off (before anything P2PDB writes itself).
    func enforce(_ on: Bool, _ db: Database) throws {
        guard on != enforcing, let connection = db.sqliteConnection else { return }
        var result: Int32 = 0
        let code = p2pdb_db_config_int(connection, SQLITE_DBCONFIG_ENABLE_FKEY, on ? 1 : 0, &result)
        guard code == SQLITE_OK, (result != 0) == on else {
            throw P2PDBError(.storage, "could not switch foreign key enforcement (SQLite code \(code))")
        }
        try db.execute(sql: "PRAGMA ignore_check_constraints = \(on ? "OFF" : "ON")")
        enforcing = on
    }

    /// Runs one user statement with its triggers live.
    func runUserStatement<T>(_ body: () throws -> T, _ db: Database) rethrows -> T {
        runningUserStatement = true
        activeTriggers = []
        if let connection = db.sqliteConnection { sqlite3_set_last_insert_rowid(connection, userLastInsertRowID) }
        defer {
            runningUserStatement = false
            activeTriggers = []
        }
        return try body()
    }

    /// Remembers the key of the last row a user statement inserted (after
    /// ``AutoKeys`` has moved it), for the next user statement.
    func recordLastInsertRowID(_ db: Database) {
        if let connection = db.sqliteConnection { userLastInsertRowID = sqlite3_last_insert_rowid(connection) }
    }

    /// Fails if the transaction leaves a deferred foreign key unresolved:
    /// SQLite would refuse its COMMIT, and here it shares a commit with
    /// other requests.
    func requireResolvedForeignKeys(_ db: Database) throws {
        guard enforcing, let connection = db.sqliteConnection else { return }
        var current: Int32 = 0
        var highest: Int32 = 0
        guard sqlite3_db_status(connection, SQLITE_DBSTATUS_DEFERRED_FKS, &current, &highest, 0) == SQLITE_OK else { return }
        if current > 0 { throw P2PDBError(.constraint, "FOREIGN KEY constraint failed") }
    }

    /// The CREATE TRIGGER statement a replica runs for a user trigger: the
    /// user's, with the gate added to its WHEN clause and a call that
    /// closes it at the end of its body. Nil if the text is not a trigger.
    static func physicalSQL(of trigger: SchemaObjectDefinition) -> String? {
        let sql = trigger.sql
        guard let tokens = SQLText.tokenize(sql), let begin = tokens.firstIndex(where: { $0.isKeyword("BEGIN") }), begin > 3,
            let end = tokens.lastIndex(where: { $0.isKeyword("END") }), end == tokens.count - 1, end > begin + 1
        else { return nil }
        let name = SQLText.quoteString(trigger.name)
        let gate = "\(enterFunction)(\(name))"
        var head: String
        if let when = tokens[..<begin].firstIndex(where: { $0.isKeyword("WHEN") }), when + 1 < begin {
            // The user's condition first: the gate opens only for a trigger
            // that then runs to the end of its body, which closes it.
            head = SQLText.source(from: tokens[0], through: tokens[when], in: sql) + " ("
                + SQLText.source(from: tokens[when + 1], through: tokens[begin - 1], in: sql) + ") AND " + gate
        } else {
            head = SQLText.source(from: tokens[0], through: tokens[begin - 1], in: sql) + " WHEN " + gate
        }
        let body = SQLText.source(from: tokens[begin], through: tokens[end - 1], in: sql)
        return head + " " + body + " SELECT \(exitFunction)(\(name)); END"
    }
}
