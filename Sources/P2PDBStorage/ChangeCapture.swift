import Foundation
import CSQLiteExtras
import GRDB
import GRDBSQLite
import P2PDBCore

/// Records what user statements do to replicated rows, through SQLite's
/// pre-update hook on the writer connection.
///
/// For each row a transaction touches it keeps the row as it was before the
/// transaction's first change (nil if absent) and as it is after the latest
/// (nil if deleted). The difference is the transaction's net change, which
/// becomes the entry's row change: an insert then update is one insert, an
/// insert then delete is nothing. Writes P2PDB itself makes are ignored
/// (capture is off), and a user write to any table that is not replicated
/// is recorded as a violation that aborts the transaction.
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
    }

    private(set) var isCapturing = false
    private var layoutsByName: [String: TableLayout] = [:]
    private var lastName: [CChar] = []
    private var lastLayout: TableLayout?
    private var rowIndex: [RowKey: Int] = [:]
    private(set) var rows: [TouchedRow] = []
    private(set) var violation: P2PDBError?
    /// Bytes of row images this transaction may still record: a statement
    /// that changes millions of rows stops here instead of exhausting memory.
    private var remainingBytes = 0
    private var byteLimit = 0

    /// Starts recording user changes to the given tables, at most
    /// `byteLimit` bytes of row images.
    func begin(layouts: [String: TableLayout], byteLimit: Int) {
        setLayouts(layouts)
        rowIndex = [:]
        rows = []
        violation = nil
        self.byteLimit = byteLimit
        remainingBytes = byteLimit
        isCapturing = true
    }

    /// Updates the known tables, e.g. after a CREATE TABLE in the transaction.
    func setLayouts(_ layouts: [String: TableLayout]) {
        layoutsByName = layouts
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

    func pause() { isCapturing = false }
    func resume() { isCapturing = true }

    func install(on connection: OpaquePointer) {
        let context = Unmanaged.passUnretained(self).toOpaque()
        _ = sqlite3_preupdate_hook(
            connection,
            { context, db, operation, databaseName, tableName, _, _ in
                guard let context, let db, let databaseName, let tableName else { return }
                Unmanaged<ChangeCapture>.fromOpaque(context).takeUnretainedValue()
                    .preupdate(db: db, operation: operation, databaseName: databaseName, tableName: tableName)
            },
            context)
    }

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
        let columnCount = Int(sqlite3_preupdate_count(db))
        var old: [Value]?
        var new: [Value]?
        if operation == SQLITE_DELETE || operation == SQLITE_UPDATE {
            old = readRow(db, columnCount: columnCount, read: sqlite3_preupdate_old)
            if old == nil { return }
        }
        if operation == SQLITE_INSERT || operation == SQLITE_UPDATE {
            new = readRow(db, columnCount: columnCount, read: sqlite3_preupdate_new)
            if new == nil { return }
        }
        if let old, let new, layout.primaryKey(of: old) != layout.primaryKey(of: new) {
            // A key change is a delete of the old key and an insert of the new.
            record(layout, key: layout.primaryKey(of: old), before: old, after: nil)
            record(layout, key: layout.primaryKey(of: new), before: nil, after: new)
        } else if let row = new ?? old {
            record(layout, key: layout.primaryKey(of: row), before: old, after: new)
        }
    }

    private func record(_ layout: TableLayout, key: [Value], before: [Value]?, after: [Value]?) {
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
        } else {
            rowIndex[rowKey] = rows.count
            rows.append(TouchedRow(layout: layout, primaryKey: key, original: before, final: after))
        }
    }

    private func readRow(
        _ db: OpaquePointer, columnCount: Int,
        read: (OpaquePointer?, Int32, UnsafeMutablePointer<OpaquePointer?>?) -> Int32
    ) -> [Value]? {
        var row: [Value] = []
        row.reserveCapacity(columnCount)
        for column in 0..<columnCount {
            var value: OpaquePointer?
            guard read(db, Int32(column), &value) == SQLITE_OK, let value else {
                violation = P2PDBError(.storage, "could not read a changed row from SQLite")
                return nil
            }
            guard let converted = Value(sqliteValue: value) else {
                violation = P2PDBError(.invalidInput, "text value is not valid UTF-8; store binary data as a BLOB")
                return nil
            }
            row.append(converted)
        }
        return row
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


