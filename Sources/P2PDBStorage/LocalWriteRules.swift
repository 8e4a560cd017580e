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
/// While merging, SQLite's triggers are off altogether. During a local
/// transaction they cannot be switched off alone (the capture triggers must
/// keep firing), so each user trigger is created with a gate in its WHEN
/// clause (``physicalSQL(of:)``): it fires only while a user statement
/// runs, and as SQLite's triggers fire with `recursive_triggers` off (which
/// the change capture needs on): not while it is already running, and no
/// DELETE trigger for a row that REPLACE deletes (a delete while an INSERT
/// or UPDATE runs). For the last, each statement of a trigger body first
/// tells the gate whether it is a DELETE.
final class LocalWriteRules {
    static let enterFunction = "_p2pdb_trigger_enter"
    static let exitFunction = "_p2pdb_trigger_exit"
    static let stepFunction = "_p2pdb_trigger_step"

    private(set) var enforcing = false
    /// SQLite's own trigger switch; on when a connection opens.
    private var triggersOn = true
    /// What `last_insert_rowid()` says to the next user statement: the key
    /// of the last row a user statement inserted, as in plain SQLite. The
    /// rows P2PDB writes itself (the log, row metadata) would change it.
    private var userLastInsertRowID: Int64 = 0
    private var runningUserStatement = false
    /// Whether the user statement running is a DELETE.
    private var statementDeletes = false
    /// The user triggers whose bodies are running, innermost last, each
    /// with whether its body statement running is a DELETE.
    private var frames: [(trigger: [UInt8], deleting: Bool)] = []

    /// Registers the gate functions on the writer connection.
    func install(on connection: OpaquePointer) throws {
        let context = Unmanaged.passUnretained(self).toOpaque()
        try Self.register(Self.enterFunction, arguments: 2, context: context, on: connection) { context, _, arguments in
            guard let rules = LocalWriteRules.rules(of: context), let name = arguments?[0], let event = arguments?[1] else { return }
            sqlite3_result_int(context, rules.enter(LocalWriteRules.bytes(of: name), deleteTrigger: sqlite3_value_int(event) != 0) ? 1 : 0)
        }
        try Self.register(Self.stepFunction, arguments: 1, context: context, on: connection) { context, _, arguments in
            guard let rules = LocalWriteRules.rules(of: context), let deleting = arguments?[0] else { return }
            rules.step(deleting: sqlite3_value_int(deleting) != 0)
            sqlite3_result_null(context)
        }
        try Self.register(Self.exitFunction, arguments: 1, context: context, on: connection) { context, _, arguments in
            guard let rules = LocalWriteRules.rules(of: context), let name = arguments?[0] else { return }
            rules.exit(LocalWriteRules.bytes(of: name))
            sqlite3_result_null(context)
        }
        guard sqlite3_exec(connection, "PRAGMA ignore_check_constraints = ON", nil, nil, nil) == SQLITE_OK else {
            throw P2PDBError(.storage, "could not configure CHECK constraints")
        }
    }

    /// The gate functions for connections that never run user writes
    /// (readers, the scratch replica of `verify`): triggers never fire.
    static func installClosedGate(on connection: OpaquePointer) throws {
        for (name, arguments) in [(enterFunction, Int32(2)), (stepFunction, 1), (exitFunction, 1)] {
            let code = sqlite3_create_function_v2(
                connection, name, arguments, SQLITE_UTF8 | SQLITE_INNOCUOUS | SQLITE_DETERMINISTIC, nil,
                { context, _, _ in sqlite3_result_int(context, 0) }, nil, nil, nil)
            guard code == SQLITE_OK else { throw P2PDBError(.storage, "could not register \(name) (SQLite code \(code))") }
        }
    }

    private static func register(
        _ name: String, arguments: Int32, context: UnsafeMutableRawPointer, on connection: OpaquePointer,
        _ function: @escaping @convention(c) (OpaquePointer?, Int32, UnsafeMutablePointer<OpaquePointer?>?) -> Void
    ) throws {
        let code = sqlite3_create_function_v2(connection, name, arguments, SQLITE_UTF8 | SQLITE_INNOCUOUS, context, function, nil, nil, nil)
        guard code == SQLITE_OK else { throw P2PDBError(.storage, "could not register \(name) (SQLite code \(code))") }
    }

    fileprivate static func rules(of context: OpaquePointer?) -> LocalWriteRules? {
        guard let context, let pointer = sqlite3_user_data(context) else { return nil }
        return Unmanaged<LocalWriteRules>.fromOpaque(pointer).takeUnretainedValue()
    }

    fileprivate static func bytes(of value: OpaquePointer) -> [UInt8] {
        guard let text = sqlite3_value_text(value) else { return [] }
        return Array(UnsafeBufferPointer(start: text, count: Int(sqlite3_value_bytes(value))))
    }

    fileprivate func enter(_ trigger: [UInt8], deleteTrigger: Bool) -> Bool {
        guard runningUserStatement, !frames.contains(where: { $0.trigger == trigger }) else { return false }
        if deleteTrigger, !(frames.last?.deleting ?? statementDeletes) { return false }
        frames.append((trigger, false))
        return true
    }

    /// How many user trigger bodies are running.
    var depth: Int { frames.count }

    fileprivate func step(deleting: Bool) {
        if !frames.isEmpty { frames[frames.count - 1].deleting = deleting }
    }

    fileprivate func exit(_ trigger: [UInt8]) {
        if let index = frames.lastIndex(where: { $0.trigger == trigger }) { frames.removeSubrange(index...) }
    }

    /// Before a user statement: triggers live (the change capture is made
    /// of triggers too), foreign keys and CHECK constraints when the schema
    /// has any.
    func prepareUserStatement(constraints: Bool, _ db: Database) throws {
        try switchTriggers(on: true, db)
        try enforce(constraints, db)
    }

    /// Before anything P2PDB writes itself (merging other replicas' entries,
    /// synchronising the schema): no constraints and no triggers at all.
    /// Switched off in SQLite itself, a trigger is not even compiled into
    /// the merge's statements, so one whose body names a table or column
    /// this replica does not have yet cannot fail a merge.
    func suspend(_ db: Database) throws {
        try enforce(false, db)
        try switchTriggers(on: false, db)
    }

    private func enforce(_ on: Bool, _ db: Database) throws {
        guard on != enforcing, let connection = db.sqliteConnection else { return }
        try Self.configure(SQLITE_DBCONFIG_ENABLE_FKEY, on, connection, what: "foreign key enforcement")
        try db.execute(sql: "PRAGMA ignore_check_constraints = \(on ? "OFF" : "ON")")
        enforcing = on
    }

    private func switchTriggers(on: Bool, _ db: Database) throws {
        guard on != triggersOn, let connection = db.sqliteConnection else { return }
        try Self.configure(SQLITE_DBCONFIG_ENABLE_TRIGGER, on, connection, what: "triggers")
        triggersOn = on
    }

    /// Sets one of SQLite's on/off connection settings (it works inside a
    /// transaction), and checks that it took.
    static func configure(_ option: Int32, _ on: Bool, _ connection: OpaquePointer, what: String) throws {
        var result: Int32 = 0
        let code = p2pdb_db_config_int(connection, option, on ? 1 : 0, &result)
        guard code == SQLITE_OK, (result != 0) == on else {
            throw P2PDBError(.storage, "could not switch \(what) \(on ? "on" : "off") (SQLite code \(code))")
        }
    }

    /// Runs one user statement with its triggers live. `deletes`: whether
    /// the statement is a DELETE.
    func runUserStatement<T>(deletes: Bool, _ body: () throws -> T, _ db: Database) rethrows -> T {
        runningUserStatement = true
        statementDeletes = deletes
        frames = []
        if let connection = db.sqliteConnection { sqlite3_set_last_insert_rowid(connection, userLastInsertRowID) }
        defer {
            runningUserStatement = false
            frames = []
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
    /// user's, with the gate added to its WHEN clause, a call before each
    /// statement of its body that says whether it deletes, and a call that
    /// closes the gate at the end. Nil if the text is not a trigger.
    static func physicalSQL(of trigger: SchemaObjectDefinition) -> String? {
        let sql = trigger.sql
        guard let tokens = SQLText.tokenize(sql), let begin = tokens.firstIndex(where: { $0.isKeyword("BEGIN") }), begin > 3,
            let end = tokens.lastIndex(where: { $0.isKeyword("END") }), end == tokens.count - 1, end > begin + 1
        else { return nil }
        let name = SQLText.quoteString(trigger.name)
        let event = tokens[..<begin].first { ["INSERT", "UPDATE", "DELETE"].contains($0.keyword ?? "") }
        let gate = "\(enterFunction)(\(name), \(event?.isKeyword("DELETE") == true ? 1 : 0))"
        var head: String
        if let when = tokens[..<begin].firstIndex(where: { $0.isKeyword("WHEN") }), when + 1 < begin {
            // The user's condition first: the gate opens only for a trigger
            // that then runs to the end of its body, which closes it.
            head = SQLText.source(from: tokens[0], through: tokens[when], in: sql) + " ("
                + SQLText.source(from: tokens[when + 1], through: tokens[begin - 1], in: sql) + ") AND " + gate
        } else {
            head = SQLText.source(from: tokens[0], through: tokens[begin - 1], in: sql) + " WHEN " + gate
        }
        var body = "BEGIN"
        var start = begin + 1
        for index in (begin + 1)..<end where tokens[index].isPunctuation(";") {
            if index > start {
                body += " SELECT \(stepFunction)(\(tokens[start].isKeyword("DELETE") ? 1 : 0)); "
                    + SQLText.source(from: tokens[start], through: tokens[index], in: sql)
            }
            start = index + 1
        }
        return head + " " + body + " SELECT \(exitFunction)(\(name)); END"
    }
}
