import CSQLiteExtras
import Foundation
import GRDB
import GRDBSQLite
import P2PDBCore

/// Records what user statements do to replicated rows, on the writer
/// connection, as SQLite stores the rows.
///
/// - Inserts come from SQLite's pre-update hook, which is cheap. It reports
///   a row before SQLite's REAL affinity turns whole numbers into reals, so
///   each value is put through ``TableLayout/stored(_:)``.
/// - Updates come from temporary AFTER UPDATE triggers, deletes from BEFORE
///   DELETE triggers, on every replicated table (``CaptureTriggers``), which
///   read OLD and NEW like any SELECT does. The pre-update hook cannot be
///   trusted there: SQLite 3.40 applies REAL affinity to the wrong column of
///   WITHOUT ROWID tables in `sqlite3_preupdate_old`, which loses integers,
///   and it reports NULL for a column added after the row was written.
///   Trigger images go through ``TableLayout/stored(_:)`` too: a foreign key
///   check may have converted OLD's values in place.
/// - The pre-update hook also sees every write to any table, so a user
///   write to a table that is not replicated is recorded as a violation that
///   aborts the transaction.
///
/// For each row a transaction touches it keeps the row as it was before the
/// transaction's first change (nil if absent) and as it is after the latest
/// (nil if deleted). The first is taken in the order SQLite writes: BEFORE
/// triggers (and the pre-update hook for inserts) see a row before anything
/// else the write sets off (foreign key actions, user triggers) can touch
/// it. AFTER triggers report an update only once those have run, so the
/// image of a row changed more than once may be stale: such rows are read
/// back from the table when the transaction ends
/// (``refreshRowsChangedAgain(_:)``). The difference is the transaction's
/// net change, which becomes the entry's row change: an insert then update is one insert, an
/// insert then delete is nothing. Writes P2PDB itself makes are ignored
/// (capture is off).
final class ChangeCapture {
    struct RowKey: Hashable {
        var table: Int64
        var primaryKey: [Value]
    }

    struct TouchedRow {
        var layout: TableLayout
        var primaryKey: [Value]
        var original: [Value]?
        var final: [Value]?
        /// Writes reported for the row; from two on, `final` is read back.
        var writes = 0
    }

    private(set) var isCapturing = false
    private var layoutsByName: [IdentifierKey: TableLayout] = [:]
    private var layoutsByTID: [Int64: TableLayout] = [:]
    private var lastName: [CChar] = []
    private var lastLayout: TableLayout?
    private var rowIndex: [RowKey: Int] = [:]
    private(set) var rows: [TouchedRow] = []
    private(set) var violation: P2PDBError?
    /// Bytes of row images this transaction may still record: a statement
    /// that changes millions of rows stops here instead of exhausting memory.
    private var remainingBytes = 0
    private var byteLimit = 0
    /// The image a trigger is passing in parts (wide tables need several
    /// calls: SQLite limits a function to 127 arguments).
    private var partial: [Value] = []
    private var partialOld: [Value]?
    /// Tables whose keys the running statement leaves to SQLite, each with
    /// whether its rows must be watched (see ``AutoKeys``).
    private var autoKeyPlan: [Int64: Bool] = [:]
    /// Inserts a watcher saw about to take the key -1, by table and by how
    /// deep in user triggers they were: a BEFORE INSERT trigger may insert
    /// into the same table before the watched row is written.
    private var watchedInserts: Set<WatchedInsert> = []
    /// How many user trigger bodies are running (``LocalWriteRules``).
    var triggerDepth: () -> Int = { 0 }

    private struct WatchedInsert: Hashable {
        var table: Int64
        var depth: Int
    }
    /// Rows inserted with a key SQLite chose, in the running statement.
    private(set) var autoKeyed: [(layout: TableLayout, key: Int64)] = []

    /// Starts recording user changes to the given tables, at most
    /// `byteLimit` bytes of row images.
    func begin(layouts: [IdentifierKey: TableLayout], byteLimit: Int) {
        setLayouts(layouts)
        rowIndex = [:]
        rows = []
        violation = nil
        partial = []
        partialOld = nil
        autoKeyPlan = [:]
        autoKeyed = []
        self.byteLimit = byteLimit
        remainingBytes = byteLimit
        isCapturing = true
    }

    /// Updates the known tables, e.g. after a CREATE TABLE in the transaction.
    func setLayouts(_ layouts: [IdentifierKey: TableLayout]) {
        layoutsByName = layouts
        layoutsByTID = Dictionary(layouts.values.map { ($0.tid, $0) }, uniquingKeysWith: { first, _ in first })
        lastName = []
        lastLayout = nil
    }

    /// Stops recording and returns what was recorded.
    func end() -> [TouchedRow] {
        isCapturing = false
        defer {
            rows = []
            rowIndex = [:]
        }
        return rows
    }

    /// Expects the statement about to run to leave the keys of these tables
    /// to SQLite, and forgets what the last statement did so.
    func expectAutoKeys(_ plan: [Int64: Bool]) {
        autoKeyPlan = plan
        watchedInserts = []
        autoKeyed = []
    }

    func pause() { isCapturing = false }
    func resume() { isCapturing = true }

    /// Installs the pre-update hook and the function the capture triggers
    /// call on the writer connection.
    func install(on connection: OpaquePointer, triggers: CaptureTriggers) throws {
        let context = Unmanaged.passUnretained(self).toOpaque()
        _ = sqlite3_preupdate_hook(
            connection,
            { context, db, operation, databaseName, tableName, _, _ in
                guard let context, let db, let databaseName, let tableName else { return }
                Unmanaged<ChangeCapture>.fromOpaque(context).takeUnretainedValue()
                    .preupdate(db: db, operation: operation, databaseName: databaseName, tableName: tableName)
            },
            context)
        let code = sqlite3_create_function_v2(
            connection, CaptureTriggers.functionName, -1, SQLITE_UTF8, context,
            { context, count, arguments in
                guard let context, let pointer = sqlite3_user_data(context), let arguments else { return }
                Unmanaged<ChangeCapture>.fromOpaque(pointer).takeUnretainedValue()
                    .triggered(Array(UnsafeBufferPointer(start: arguments, count: Int(count))))
            }, nil, nil, nil)
        guard code == SQLITE_OK else { throw P2PDBError(.storage, "could not register the change capture function (SQLite code \(code))") }
        token = triggers.token
        // A REPLACE that deletes a conflicting row fires the delete trigger
        // only with recursive triggers on.
        guard sqlite3_exec(connection, "PRAGMA recursive_triggers = ON", nil, nil, nil) == SQLITE_OK else {
            throw P2PDBError(.storage, "could not enable recursive triggers")
        }
    }

    /// The secret the triggers pass first: SQL that calls the function by
    /// hand cannot forge row changes.
    private var token: Int64 = 0

    private func preupdate(
        db: OpaquePointer, operation: Int32, databaseName: UnsafePointer<CChar>, tableName: UnsafePointer<CChar>
    ) {
        guard isCapturing, violation == nil else { return }
        guard strcmp(databaseName, "main") == 0 else {
            violation = P2PDBError(.refused, "writes outside the main database are refused")
            return
        }
        guard let layout = layout(named: tableName) else {
            let name = String(cString: tableName)
            violation = P2PDBError(
                .refused,
                InternalSchema.isInternal(name)
                    ? "writing to P2PDB's internal table \(name) is refused"
                    : "table \(name) is not replicated; writes to it are refused")
            return
        }
        // Updates and deletes arrive through the triggers. One here means
        // the insert the watcher saw did not happen (an upsert updated, OR
        // IGNORE skipped it): its mark must not fall on the next insert.
        guard operation == SQLITE_INSERT else {
            watchedInserts.remove(WatchedInsert(table: layout.tid, depth: triggerDepth()))
            return
        }
        let columnCount = Int(sqlite3_preupdate_count(db))
        var row: [Value] = []
        row.reserveCapacity(columnCount)
        for column in 0..<columnCount {
            var value: OpaquePointer?
            guard sqlite3_preupdate_new(db, Int32(column), &value) == SQLITE_OK, let value else {
                violation = P2PDBError(.storage, "could not read an inserted row from SQLite")
                return
            }
            guard let converted = Value(sqliteValue: value) else { return refuseInvalidText() }
            row.append(column < layout.columnCount ? layout.stored(converted, column: column) : converted)
        }
        record(layout, key: layout.primaryKey(of: row), before: nil, after: row)
        if let watched = autoKeyPlan[layout.tid], case .integer(let key) = row[layout.primaryKeyIndexes[0]] {
            // The watcher also fires for a key given as -1, which SQLite
            // then keeps: that one is the client's.
            let fromSQLite = watched ? watchedInserts.remove(WatchedInsert(table: layout.tid, depth: triggerDepth())) != nil && key != -1 : true
            if fromSQLite { autoKeyed.append((layout, key)) }
        }
    }

    /// Called by the capture triggers: (token, kind, table number, offset,
    /// values...). Kind 1 is a row about to be deleted, 2 the old image of
    /// an updated row, 3 its new image, 4 an insert about to take a key from
    /// SQLite, 5 a row about to be updated, 6 the key an update is about to
    /// give a row where no row has it yet.
    fileprivate func triggered(_ arguments: [OpaquePointer?]) {
        guard isCapturing, violation == nil, arguments.count >= 4,
            let first = arguments[0], sqlite3_value_int64(first) == token,
            let kindValue = arguments[1], let tidValue = arguments[2], let offsetValue = arguments[3],
            let layout = layoutsByTID[sqlite3_value_int64(tidValue)]
        else { return }
        let kind = sqlite3_value_int64(kindValue)
        if kind == 4 {
            watchedInserts.insert(WatchedInsert(table: layout.tid, depth: triggerDepth()))
            return
        }
        if kind == 6 {
            var key: [Value] = []
            for (position, argument) in arguments.dropFirst(4).enumerated() where position < layout.primaryKeyIndexes.count {
                guard let argument, let value = Value(sqliteValue: argument) else { return refuseInvalidText() }
                key.append(layout.stored(value, column: layout.primaryKeyIndexes[position]))
            }
            if key.count == layout.primaryKeyIndexes.count, !key.contains(where: \.isNull) { register(layout, key: key, original: nil) }
            return
        }
        if sqlite3_value_int64(offsetValue) == 0 { partial = [] }
        for argument in arguments.dropFirst(4) {
            guard let argument, let value = Value(sqliteValue: argument) else { return refuseInvalidText() }
            partial.append(value)
        }
        guard partial.count >= layout.columnCount else { return }
        // As stored: an AFTER trigger may read a value that a foreign key
        // check converted in place (text '-1' as the integer -1).
        let image = partial.indices.map { $0 < layout.columnCount ? layout.stored(partial[$0], column: $0) : partial[$0] }
        partial = []
        switch kind {
        case 1:
            record(layout, key: layout.primaryKey(of: image), before: image, after: nil)
        case 5:
            register(layout, key: layout.primaryKey(of: image), original: image)
        case 2:
            partialOld = image
        default:
            guard let old = partialOld else { return }
            partialOld = nil
            let (oldKey, newKey) = (layout.primaryKey(of: old), layout.primaryKey(of: image))
            if oldKey != newKey {
                // A key change is a delete of the old key and an insert of the new.
                record(layout, key: oldKey, before: old, after: nil)
                record(layout, key: newKey, before: nil, after: image)
            } else {
                record(layout, key: newKey, before: old, after: image)
            }
        }
    }

    private func refuseInvalidText() {
        violation = P2PDBError(.invalidInput, "text value is not valid UTF-8; store binary data as a BLOB")
    }

    private func record(_ layout: TableLayout, key: [Value], before: [Value]?, after: [Value]?) {
        // SQLite lets a rowid table's non-integer key be NULL, and NULL is
        // equal to nothing, so it names no row: two such rows would be one
        // here. Refused as soon as it appears.
        if after != nil, let position = key.firstIndex(where: \.isNull) {
            violation = P2PDBError(
                .constraint,
                "NOT NULL constraint failed: primary key column \(layout.name).\(layout.columnNames[layout.primaryKeyIndexes[position]]) cannot be NULL")
            return
        }
        for value in before ?? [] { remainingBytes -= value.storedSize }
        for value in after ?? [] { remainingBytes -= value.storedSize }
        guard remainingBytes >= 0 else {
            violation = P2PDBError(
                .limitExceeded,
                "this transaction changes more than \(byteLimit >> 20) MiB of rows; split it into smaller transactions")
            return
        }
        let rowKey = RowKey(table: layout.tid, primaryKey: key)
        if let index = rowIndex[rowKey] {
            rows[index].final = after
            rows[index].writes += 1
        } else {
            rowIndex[rowKey] = rows.count
            rows.append(TouchedRow(layout: layout, primaryKey: key, original: before, final: after, writes: 1))
        }
    }

    /// Notes how a row was before the transaction touched it, unless it has
    /// been touched already.
    private func register(_ layout: TableLayout, key: [Value], original: [Value]?) {
        let rowKey = RowKey(table: layout.tid, primaryKey: key)
        guard rowIndex[rowKey] == nil else { return }
        for value in original ?? [] { remainingBytes -= value.storedSize }
        rowIndex[rowKey] = rows.count
        rows.append(TouchedRow(layout: layout, primaryKey: key, original: original, final: original))
    }

    /// Reads back from the table every row written more than once in the
    /// transaction: what it holds now is the row's final state, whatever
    /// order SQLite reported the writes in.
    func refreshRowsChangedAgain(_ db: Database) throws {
        for index in rows.indices where rows[index].writes > 1 {
            let layout = layoutsByTID[rows[index].layout.tid] ?? rows[index].layout
            rows[index].final = try RowMerger.fetchRow(db, layout: layout, key: rows[index].primaryKey).map(layout.stored)
        }
    }

    private func layout(named name: UnsafePointer<CChar>) -> TableLayout? {
        if let lastLayout, !lastName.isEmpty, strcmp(lastName, name) == 0 { return lastLayout }
        let string = String(cString: name)
        let layout = layoutsByName[SQLText.key(string)]
        lastName = Array(string.utf8CString)
        lastLayout = layout
        return layout
    }
}

/// The temporary triggers through which ``ChangeCapture`` sees updates and
/// deletes of replicated rows: BEFORE and AFTER UPDATE and DELETE triggers
/// per table, on the writer connection only, replaced whenever the table's
/// columns change. They live in the `temp` schema, so they are not part of
/// the replica file and other connections never run them.
struct CaptureTriggers: Sendable {
    static let functionName = "_p2pdb_capture"
    /// SQLite passes at most 127 arguments to a function.
    private static let valuesPerCall = 100

    let token: Int64

    init(token: Int64 = Int64.random(in: 1...Int64.max)) {
        self.token = token
    }

    /// Creates (or replaces) the triggers of one table. `writeOrder`: the
    /// table is one of ``writtenTwice(_:)`` and gets the BEFORE UPDATE
    /// trigger too.
    func install(_ layout: TableLayout, _ db: Database, writeOrder: Bool) throws {
        let (update, delete) = Self.names(layout.tid)
        let beforeUpdate = "_p2pdb_bu_\(layout.tid)"
        try db.execute(
            sql: [update, delete, beforeUpdate, Self.watcherName(layout.tid)].map { "DROP TRIGGER IF EXISTS temp.\($0);" }.joined())
        let table = "main." + layout.quotedName
        let columns = layout.columnNames.map(SQLText.quoteIdentifier)
        func calls(kind: Int, image: String) -> String {
            stride(from: 0, to: columns.count, by: Self.valuesPerCall).map { offset in
                let values = columns[offset..<min(offset + Self.valuesPerCall, columns.count)].map { "\(image).\($0)" }
                return "SELECT \(Self.functionName)(\(token), \(kind), \(layout.tid), \(offset), \(values.joined(separator: ", ")));"
            }.joined(separator: " ")
        }
        try db.execute(
            sql: "CREATE TEMP TRIGGER \(update) AFTER UPDATE ON \(table) BEGIN \(calls(kind: 2, image: "OLD")) \(calls(kind: 3, image: "NEW")) END")
        // BEFORE: SQLite's foreign key checks may convert OLD's values in
        // place (a parent key looked up in a child's index, with the child
        // column's affinity) before AFTER triggers read them.
        try db.execute(sql: "CREATE TEMP TRIGGER \(delete) BEFORE DELETE ON \(table) BEGIN \(calls(kind: 1, image: "OLD")) END")
        guard writeOrder else { return }
        let keys = layout.primaryKeyIndexes.map { columns[$0] }
        let newKey = keys.map { "NEW.\($0)" }.joined(separator: ", ")
        let newKeyIsFree = "NOT EXISTS (SELECT 1 FROM \(table) WHERE " + keys.map { "\($0) = NEW.\($0)" }.joined(separator: " AND ") + ")"
        try db.execute(
            sql: """
                CREATE TEMP TRIGGER \(beforeUpdate) BEFORE UPDATE ON \(table) BEGIN \(calls(kind: 5, image: "OLD")) \
                SELECT \(Self.functionName)(\(token), 6, \(layout.tid), 0, \(newKey)) WHERE \(newKeyIsFree); END
                """)
    }

    /// Tables where one statement may write a row twice, its foreign key
    /// actions or triggers writing again what it wrote: a table with a
    /// foreign key to itself, and every table a trigger is on or names. Only
    /// they get the BEFORE UPDATE trigger that registers rows in write
    /// order: with a BEFORE trigger SQLite checks a STRICT column's type
    /// before OR IGNORE can skip the row, which plain tables must not feel.
    static func writtenTwice(_ schema: ReplicatedSchema) -> Set<IdentifierKey> {
        var tables = Set(schema.tables.filter { key, table in table.foreignKeys.contains { SQLText.key($0.parentTable) == key } }.keys)
        for trigger in schema.effectiveTriggers {
            tables.insert(SQLText.key(trigger.table))
            for token in SQLText.tokenize(trigger.sql) ?? [] where token.kind != .string {
                let key = SQLText.key(token.text)
                if schema.tables[key] != nil { tables.insert(key) }
            }
        }
        return tables
    }

    /// Creates, for one statement, the trigger that tells the capture which
    /// inserts into a rowid table are about to take their key from SQLite
    /// (the key is -1 in a BEFORE INSERT trigger then).
    func installWatcher(_ layout: TableLayout, _ db: Database) throws {
        let key = "NEW." + SQLText.quoteIdentifier(layout.columnNames[layout.primaryKeyIndexes[0]])
        try db.execute(
            sql: """
                CREATE TEMP TRIGGER IF NOT EXISTS \(Self.watcherName(layout.tid)) BEFORE INSERT ON main.\(layout.quotedName) \
                WHEN \(key) = -1 BEGIN SELECT \(Self.functionName)(\(token), 4, \(layout.tid), 0); END
                """)
    }

    func removeWatcher(_ layout: TableLayout, _ db: Database) throws {
        try db.execute(sql: "DROP TRIGGER IF EXISTS temp.\(Self.watcherName(layout.tid))")
    }

    private static func names(_ tid: Int64) -> (String, String) { ("_p2pdb_u_\(tid)", "_p2pdb_d_\(tid)") }
    private static func watcherName(_ tid: Int64) -> String { "_p2pdb_w_\(tid)" }
}
