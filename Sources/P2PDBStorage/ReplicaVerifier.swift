import GRDB
import GRDBSQLite
import P2PDBCore

/// The result of `p2pdb verify`.
public struct VerificationReport: Sendable, Equatable {
    public var entriesChecked = 0
    public var rowsChecked = 0
    /// What is wrong, first problem first. Empty when the replica is sound.
    public var problems: [String] = []
    public var stateHash: StateHash = .zero

    public var isValid: Bool { problems.isEmpty }
}

/// Checks a replica file against its own log.
///
/// Every entry's hash, signature and parents are checked; then the whole
/// log is replayed into an empty in-memory replica and its tables, row
/// metadata and state hash are compared with the file's. Anything altered
/// behind P2PDB's back (a row edited with the sqlite3 shell, a tampered
/// entry, a deleted tombstone) shows up as the first difference.
struct ReplicaVerifier {
    let nodeID: NodeID

    func verify(_ db: Database) throws -> VerificationReport {
        var report = VerificationReport()
        // The scratch replica merges only: no foreign keys, checks or
        // triggers, as on the writer while it merges.
        var configuration = Configuration()
        configuration.foreignKeysEnabled = false
        configuration.prepareDatabase { db in
            guard let connection = db.sqliteConnection else { return }
            try SQLFunctions.install(on: connection)
            try db.execute(sql: "PRAGMA ignore_check_constraints = ON")
            try LocalWriteRules.configure(SQLITE_DBCONFIG_ENABLE_TRIGGER, false, connection, what: "triggers")
        }
        let scratch = try DatabaseQueue(configuration: configuration)
        var replayed: ReplicaState?
        try scratch.write { scratchDB in
            _ = try InternalSchema.create(scratchDB)
            var state = try ReplicaState.load(scratchDB, selfID: nodeID)
            // A private network's rule is replayed too: an entry its author
            // could not write fails verify like a forged one.
            if let network = try NetworkMembers.network(db) { try NetworkMembers.adopt(network, scratchDB, state: &state) }
            var seen = Set<EntryID>()
            let rows = try Row.fetchCursor(db, sql: "SELECT position, id, seq, lamport, body FROM _p2pdb_entries ORDER BY position")
            while let row = try rows.next() {
                let position: Int64 = row[0]
                guard let body = (row[4] as DatabaseValue).storage.blobBytes,
                    let storedID = (row[1] as DatabaseValue).storage.blobBytes.flatMap(Bytes32.init).map(EntryID.init)
                else {
                    report.problems.append("entry at position \(position): stored ID or body is not a blob")
                    return
                }
                let entry: Entry
                do {
                    entry = try Entry(bytes: body)
                } catch {
                    report.problems.append("entry \(storedID.hex) at position \(position): \(error)")
                    return
                }
                guard entry.id == storedID else {
                    report.problems.append(
                        "entry \(storedID.hex) at position \(position): its bytes hash to \(entry.id.hex) (tampered)")
                    return
                }
                guard UInt64(row[2] as Int64) == entry.seq, UInt64(row[3] as Int64) == entry.lamport else {
                    report.problems.append("entry \(storedID.hex) at position \(position): indexed seq or Lamport clock altered")
                    return
                }
                if let missing = entry.parents.first(where: { !seen.contains($0) }) {
                    report.problems.append("entry \(entry.id.hex) at position \(position): parent \(missing.hex) is not before it in the log")
                    return
                }
                seen.insert(entry.id)
                let (outcome, _) = try EntryApplier.apply(entry, scratchDB, state: &state, now: 0, maximumPending: .max)
                guard outcome == .applied else {
                    report.problems.append("entry \(entry.id.hex) at position \(position): \(outcome)")
                    return
                }
                report.entriesChecked += 1
            }
            replayed = state
        }
        guard let replayed, report.problems.isEmpty else { return report }
        report.stateHash = replayed.stateHash
        try scratch.read { scratchDB in
            try compareInternalSchema(db, scratchDB, report: &report)
            if report.problems.isEmpty { try compareTables(db, scratchDB, replayed: replayed, report: &report) }
            if report.problems.isEmpty { try compareMetadata(db, scratchDB, replayed: replayed, report: &report) }
            if report.problems.isEmpty { try compareLogState(db, scratchDB, replayed: replayed, report: &report) }
        }
        if report.problems.isEmpty {
            let stored = try DatabaseValue.fetchOne(db, sql: "SELECT value FROM _p2pdb_meta WHERE key = 'rows_hash'")?
                .storage.blobBytes.flatMap(Bytes32.init).map(StateHash.init(value:)) ?? .zero
            if stored != replayed.rowsHash {
                report.problems.append("the stored state hash does not match the rows (\(stored.hex) stored)")
            }
        }
        return report
    }

    /// P2PDB's own tables and indexes, as a new replica has them: one
    /// replaced or dropped (by an entry that named it, or by hand) would
    /// leave lookups scanning the whole log, or merges writing elsewhere.
    /// Compared by name, table and columns, not by text, which upgrades of
    /// older replicas may spell differently.
    private func compareInternalSchema(_ db: Database, _ scratch: Database, report: inout VerificationReport) throws {
        let objectsSQL = """
            SELECT s.type, s.name, s.tbl_name, group_concat(c.name, ',')
            FROM sqlite_schema AS s, pragma_index_xinfo(s.name) AS c
            WHERE s.type = 'index' AND s.name LIKE '\\_p2pdb\\_%' ESCAPE '\\' GROUP BY s.name
            UNION ALL
            SELECT type, name, tbl_name, '' FROM sqlite_schema WHERE type = 'table' AND name LIKE '\\_p2pdb\\_%' ESCAPE '\\'
            ORDER BY 1, 2
            """
        func objects(_ db: Database) throws -> [[String]] {
            try Row.fetchAll(db, sql: objectsSQL).map { row in (0..<4).map { (row[$0] as String?) ?? "" } }
        }
        let file = try objects(db)
        let expected = try objects(scratch)
        for object in expected where !file.contains(object) {
            report.problems.append("P2PDB's \(object[0]) \(object[1]) is missing or altered in the file")
        }
        for object in file where !expected.contains(object) && !expected.contains(where: { $0[1] == object[1] }) {
            report.problems.append("\(object[0]) \(object[1]) in the file is not one of P2PDB's own: it was created outside P2PDB")
        }
    }

    private func compareTables(_ db: Database, _ scratch: Database, replayed: ReplicaState, report: inout VerificationReport) throws {
        var rowsHash = StateHash.zero
        defer {
            if report.problems.isEmpty && rowsHash != replayed.rowsHash {
                report.problems.append("the rows hash to \(rowsHash.hex), the log's incremental state gives \(replayed.rowsHash.hex)")
            }
        }
        let fileTables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_schema WHERE type = 'table'")
        for name in fileTables.sorted() where !InternalSchema.isInternal(name) && replayed.layouts[SQLText.key(name)] == nil {
            report.problems.append("\(name) exists in the file but not in the log: it was created outside P2PDB")
        }
        // Views and triggers as the log's schema creates them, text and all.
        let objectsSQL = "SELECT type, name, sql FROM sqlite_schema WHERE type IN ('view', 'trigger') ORDER BY type, name"
        let fileObjects = try Row.fetchAll(db, sql: objectsSQL).map { [$0[0] as String, $0[1] as String, ($0[2] as String?) ?? ""] }
        let logObjects = try Row.fetchAll(scratch, sql: objectsSQL).map { [$0[0] as String, $0[1] as String, ($0[2] as String?) ?? ""] }
        for object in fileObjects where !logObjects.contains(object) {
            report.problems.append("\(object[0]) \(object[1]) exists in the file but not in the log: it was created outside P2PDB")
        }
        for object in logObjects where !fileObjects.contains(object) {
            report.problems.append("\(object[0]) \(object[1]) is derived from the log but missing from the file")
        }
        for layout in replayed.layouts.values.sorted(by: { $0.key < $1.key }) {
            let fileColumns = try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?)", arguments: [layout.name])
            guard fileColumns.map({ Array($0.utf8) }) == layout.columnNames.map({ Array($0.utf8) }) else {
                report.problems.append("table \(layout.name): the file has columns \(fileColumns), the log gives \(layout.columnNames)")
                continue
            }
            let order = layout.primaryKeyIndexes.map { SQLText.quoteIdentifier(layout.columnNames[$0]) }.joined(separator: ", ")
            let sql = "\(layout.selectAllSQL) ORDER BY \(order)"
            // Rows are read as SQLite stores them, byte for byte: GRDB's
            // strings end at a NUL, which text values may hold.
            var expected: [[Value]: [Value]] = [:]
            let replayedRows = try scratch.makeStatement(sql: sql)
            while try replayedRows.stepRaw() {
                let values = replayedRows.currentRowRaw()
                expected[layout.primaryKey(of: values)] = values
            }
            let fileRows = try db.makeStatement(sql: sql)
            while try fileRows.stepRaw() {
                let values = fileRows.currentRowRaw()
                let key = layout.primaryKey(of: values)
                report.rowsChecked += 1
                rowsHash.add(layout.digest(of: values))
                guard let wanted = expected.removeValue(forKey: key) else {
                    report.problems.append("table \(layout.name), row \(describe(key)): present in the file but not derived from the log")
                    return
                }
                if let column = values.indices.first(where: { values[$0] != wanted[$0] }) {
                    report.problems.append(
                        "table \(layout.name), row \(describe(key)): column \(layout.columnNames[column]) is \(values[column]) in the file, the log gives \(wanted[column])")
                    return
                }
            }
            if let missing = expected.keys.sorted(by: { describe($0) < describe($1) }).first {
                report.problems.append("table \(layout.name), row \(describe(missing)): derived from the log but missing from the file")
                return
            }
        }
    }

    private func compareMetadata(_ db: Database, _ scratch: Database, replayed: ReplicaState, report: inout VerificationReport) throws {
        func load(_ db: Database) throws -> [String: String] {
            var authors: [Int64: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT idx, node_id FROM _p2pdb_authors") {
                authors[row[0]] = (row[1] as DatabaseValue).storage.blobBytes.map(Hex.encode) ?? "?"
            }
            var tables: [Int64: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT key, tid FROM _p2pdb_tables") { tables[row[1]] = row[0] }
            var result: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT tid, pk, cl, lamport, author, clocks FROM _p2pdb_rows") {
                let overrides = try RowMetadata.decodeOverrides((row[5] as DatabaseValue).storage.blobBytes)
                    .sorted { $0.key < $1.key }
                    .map { "\($0.key):\($0.value.lamport)@\(authors[$0.value.author] ?? "0")" }
                let key = "\(tables[row[0]] ?? "?")/\(Hex.encode((row[1] as DatabaseValue).storage.blobBytes ?? []))"
                result[key] = "cl \(row[2] as Int64), \(row[3] as Int64)@\(authors[row[4]] ?? "?") \(overrides)"
            }
            return result
        }
        let file = try load(db)
        let expected = try load(scratch)
        for key in Set(file.keys).union(expected.keys).sorted() where file[key] != expected[key] {
            report.problems.append(
                "merge metadata of row \(key) is \(file[key] ?? "missing") in the file, the log gives \(expected[key] ?? "nothing")")
            return
        }
    }

    /// What the log tables derive besides rows: the heads new entries name
    /// as parents, the version vector peers are told, the schema changes the
    /// merged schema is rebuilt from, the evidence of equivocations, and the
    /// indexes. Any of them altered would mislead later writes or peers.
    private func compareLogState(_ db: Database, _ scratch: Database, replayed: ReplicaState, report: inout VerificationReport) throws {
        if try LogStore.heads(db) != replayed.heads {
            report.problems.append("the stored heads are not the log's: new entries would name wrong parents")
            return
        }
        if try AuthorTable.load(db).versionVector != replayed.authors.versionVector {
            report.problems.append("the stored version vector is not the log's: peers would be told wrong sequence numbers")
            return
        }
        // Compared as bytes: Swift strings would take NFC and NFD names as one.
        for (what, sql) in Self.derivedLists
        where try String.fetchAll(db, sql: sql).map({ Array($0.utf8) }) != String.fetchAll(scratch, sql: sql).map({ Array($0.utf8) }) {
            report.problems.append("the stored \(what) differ from what the log gives")
            return
        }
    }

    /// Derived lists compared as text, each in a fixed order.
    private static let derivedLists: [(String, String)] = [
        (
            "schema changes",
            "SELECT lamport || ':' || hex(author) || ':' || change_index || ':' || hex(change) FROM _p2pdb_schema_changes ORDER BY position, change_index"
        ),
        (
            "equivocations",
            """
            SELECT hex(a.node_id) || ':' || e.seq || ':' || hex(e.first_id) || ':' || hex(e.second_id)
            FROM _p2pdb_equivocations e JOIN _p2pdb_authors a ON a.idx = e.author ORDER BY 1
            """
        ),
        ("network members", "SELECT hex(node_id) || ':' || hex(credential) FROM _p2pdb_members ORDER BY 1"),
        ("membership vectors", "SELECT hex(id) || ':' || hex(vector) || ':' || carries_facts FROM _p2pdb_fact_vectors ORDER BY 1"),
        (
            "indexes",
            """
            SELECT s.name || ' ON ' || s.tbl_name || '(' || (SELECT group_concat(i.name, ',') FROM pragma_index_info(s.name) i) || ')'
            FROM sqlite_schema s WHERE s.type = 'index' AND s.sql IS NOT NULL ORDER BY s.name
            """
        ),
    ]

    private func describe(_ key: [Value]) -> String {
        key.count == 1 ? key[0].description : "(" + key.map(\.description).joined(separator: ", ") + ")"
    }
}
