import Foundation
import GRDB
import GRDBSQLite
import P2PDBCore
import Synchronization

/// Integer keys that no other replica can pick.
///
/// When an insert leaves an `INTEGER PRIMARY KEY` (the rowid) to SQLite,
/// SQLite picks the largest key plus one, so two registers that each sell
/// offline would both create sale 1, and the merge would keep one sale.
/// P2PDB lets SQLite insert the row, then moves it to a key of its own
/// before anything else sees it (``KeyAllocator``), and makes
/// `last_insert_rowid()` and a RETURNING of the key report the new key.
/// AUTOINCREMENT tables are treated the same way (the keys are never
/// reused either).
///
/// Which inserts leave the key to SQLite is read from the statement's
/// bytecode, once per SQL text: a `NewRowid` instruction for a replicated
/// rowid table. It runs for every row when the key column is left out, or
/// when the key's value is NULL; when that value is a parameter its binding
/// tells, otherwise a temporary BEFORE INSERT trigger watches each row.
/// The trigger is a last resort: SQLite checks constraints in another
/// order when a table has BEFORE triggers, so ``KeySources`` follows the
/// key's register back to its parameters and literals wherever it can.
final class AutoKeys {
    enum Assignment: Equatable {
        /// Every row the statement inserts gets its key from SQLite.
        case always
        /// Only when this (1-based) parameter is NULL.
        case whenNull(parameter: Int)
        /// Rows of a multi-row VALUES: some rows, if one of these is NULL.
        case whenAnyNull(parameters: [Int])
        /// The key comes from an expression: watch each row.
        case watched
    }

    struct Use: Equatable {
        var table: IdentifierKey
        var assignment: Assignment
    }

    /// By the SQL's bytes: NFC and NFD spellings are two texts here.
    private var analyses: [[UInt8]: [Use]] = [:]
    /// The analysis of each prepared statement, checked against its SQL
    /// without making a string: a batch runs one statement many times.
    private var byStatement: [OpaquePointer: (sql: [CChar], uses: [Use])] = [:]
    /// The schema the analyses were made under: a table that becomes a
    /// rowid table changes what its inserts compile to.
    private var schema = StateHash.zero
    /// Tables the schema's triggers insert into.
    private var triggerTargets: [IdentifierKey] = []
    let allocator = KeyAllocator()

    /// The tables whose keys this statement leaves to SQLite, given the
    /// parameters bound to it: table number and whether each row must be
    /// watched (false: every row it inserts there gets an SQLite key).
    func plan(
        _ statement: Statement, parameters: ArraySlice<Value>, schema: ReplicatedSchema, layouts: [IdentifierKey: TableLayout],
        _ db: Database
    ) throws -> [Int64: Bool] {
        // EXPLAIN lists the program and runs nothing.
        guard !statement.isReadonly, sqlite3_stmt_isexplain(statement.sqliteStatement) == 0 else { return [:] }
        if schema.digest != self.schema {
            analyses.removeAll()
            byStatement.removeAll()
            self.schema = schema.digest
            triggerTargets = Self.insertTargets(of: schema.effectiveTriggers)
        }
        let uses = try self.uses(of: statement, db)
        guard !uses.isEmpty else { return [:] }
        var plan: [Int64: Bool] = [:]
        for use in uses {
            guard let layout = layouts[use.table], layout.isRowIDAlias else { continue }
            switch use.assignment {
            case .always:
                plan[layout.tid] = plan[layout.tid] ?? false
            case .whenNull(let parameter):
                let index = parameters.startIndex + parameter - 1
                if parameters.indices.contains(index), parameters[index].isNull { plan[layout.tid] = plan[layout.tid] ?? false }
            case .whenAnyNull(let numbers):
                let indexes = numbers.map { parameters.startIndex + $0 - 1 }
                if indexes.contains(where: { !parameters.indices.contains($0) || parameters[$0].isNull }) { plan[layout.tid] = true }
            case .watched:
                plan[layout.tid] = true
            }
        }
        return plan
    }

    private func uses(of statement: Statement, _ db: Database) throws -> [Use] {
        let handle = statement.sqliteStatement
        guard let text = sqlite3_sql(handle) else { return [] }
        if let known = byStatement[handle], strcmp(known.sql, text) == 0 { return known.uses }
        let sql = String(cString: text)
        let bytes = Array(sql.utf8)
        let uses: [Use]
        if let known = analyses[bytes] {
            uses = known
        } else {
            uses = try Self.analyze(sql, db, triggerTargets: triggerTargets)
            if analyses.count >= 4096 { analyses.removeAll(keepingCapacity: true) }
            analyses[bytes] = uses
        }
        if byStatement.count >= 4096 { byStatement.removeAll(keepingCapacity: true) }
        byStatement[handle] = (Array(sql.utf8CString), uses)
        return uses
    }

    /// Reads the tables a statement may give SQLite-chosen keys from its
    /// EXPLAIN listing.
    static func analyze(_ sql: String, _ db: Database, triggerTargets: [IdentifierKey] = []) throws -> [Use] {
        struct Operation {
            var opcode: String
            var p1: Int64
            var p2: Int64
            var p3: Int64
            var p4: String?
        }
        var program: [Operation] = []
        let explain = try db.makeStatement(sql: "EXPLAIN " + sql)
        while try explain.stepRaw() {
            let row = explain.currentRowRaw()
            // The listing goes on with the programs of triggers and foreign
            // key actions, each numbered from 0 again, with cursors of their
            // own: only the statement's own program is read here.
            if case .integer(0) = row.first, !program.isEmpty { break }
            guard row.count >= 5, case .text(let opcode) = row[1], case .integer(let p1) = row[2], case .integer(let p2) = row[3],
                case .integer(let p3) = row[4]
            else { continue }
            var p4: String?
            if row.count > 5, case .text(let text) = row[5] { p4 = text }
            program.append(Operation(opcode: opcode, p1: p1, p2: p2, p3: p3, p4: p4))
        }
        var uses: [Use] = []
        for (address, operation) in program.enumerated() where operation.opcode == "NewRowid" {
            // The table of the cursor is named by the Insert that writes it.
            guard let table = program.first(where: { $0.opcode == "Insert" && $0.p1 == operation.p1 })?.p4 else { continue }
            let register = operation.p2
            var assignment = Assignment.always
            if address > 0, program[address - 1].opcode == "NotNull", program[address - 1].p1 == register,
                program[address - 1].p2 == Int64(address + 1)
            {
                switch KeySources.trace(register, in: program[..<(address - 1)].map { ($0.opcode, $0.p1, $0.p2, $0.p3) }) {
                case .literals:
                    continue
                case .parameter(let parameter):
                    assignment = .whenNull(parameter: parameter)
                case .parameters(let parameters):
                    assignment = .whenAnyNull(parameters: parameters)
                case .expression:
                    assignment = .watched
                }
            }
            uses.append(Use(table: IdentifierKey(table), assignment: assignment))
        }
        // Triggers insert in programs of their own: when the statement can
        // fire one, every table a trigger inserts into is watched.
        if program.contains(where: { $0.opcode == "Program" }) {
            uses += triggerTargets.map { Use(table: $0, assignment: .watched) }
        }
        return uses
    }

    /// The tables the triggers' INSERT and REPLACE statements name.
    static func insertTargets(of triggers: [SchemaObjectDefinition]) -> [IdentifierKey] {
        var targets = Set<IdentifierKey>()
        for trigger in triggers {
            guard let tokens = SQLText.tokenize(trigger.sql), let begin = tokens.firstIndex(where: { $0.isKeyword("BEGIN") }) else { continue }
            for index in tokens.indices.dropFirst(begin) where tokens[index].isKeyword("INTO") && index + 1 < tokens.count {
                targets.insert(IdentifierKey(tokens[index + 1].text))
            }
        }
        return targets.sorted()
    }

    /// Moves rows that got their key from SQLite to keys of their own, and
    /// puts the new keys where the client reads them: `last_insert_rowid()`
    /// and the key column of the statement's RETURNING rows.
    func reassign(_ rows: [(layout: TableLayout, key: Int64)], result: inout StatementResult, now: Int64, _ db: Database) throws {
        var moved: [Int64: Int64] = [:]
        for (layout, old) in rows {
            let column = SQLText.quoteIdentifier(layout.columnNames[layout.primaryKeyIndexes[0]])
            let update = try db.cachedStatement(
                sql: StatementSource.cacheKeyed("UPDATE main.\(layout.quotedName) SET \(column) = ? WHERE \(column) = ?"))
            var attempts = 0
            while true {
                let new = allocator.next(now: now)
                do {
                    try update.runRaw([.integer(new), .integer(old)])
                    moved[old] = new
                    break
                } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT && attempts < 8 {
                    // The key is taken here already (a clock set back): another.
                    attempts += 1
                }
            }
        }
        guard let connection = db.sqliteConnection else { return }
        if let new = moved[sqlite3_last_insert_rowid(connection)] { sqlite3_set_last_insert_rowid(connection, new) }
        let keyNames = Set(rows.map { SQLText.key($0.layout.columnNames[$0.layout.primaryKeyIndexes[0]]) } + ["rowid", "oid", "_rowid_"].map(IdentifierKey.init))
        let keyColumns = result.columns.indices.filter { keyNames.contains(SQLText.key(result.columns[$0])) }
        for row in result.rows.indices {
            for column in keyColumns {
                if case .integer(let old) = result.rows[row][column], let new = moved[old] { result.rows[row][column] = .integer(new) }
            }
        }
    }
}

/// Picks integer keys for rows whose key SQLite would have chosen: the
/// wall-clock millisecond shifted left by 20 bits, plus a random number
/// below 2^20, counting up within a millisecond and never going back on
/// this node. Two replicas pick the same key only if they pick it in the
/// same millisecond and draw random numbers less than the number of keys
/// they pick in it apart. Keys stay below 2^62, far from the limit where
/// SQLite stops choosing larger keys by itself.
final class KeyAllocator: Sendable {
    private let last = Mutex<Int64>(0)

    func next(now: Int64) -> Int64 {
        let milliseconds = max(0, now - Self.epoch) & ((1 << 41) - 1)
        let candidate = (milliseconds << 20) | Int64.random(in: 0..<(1 << 20))
        return last.withLock { last in
            last = max(candidate, last + 1)
            return last
        }
    }

    /// 2020-01-01T00:00:00Z in Unix milliseconds.
    private static let epoch: Int64 = 1_577_836_800_000
}
