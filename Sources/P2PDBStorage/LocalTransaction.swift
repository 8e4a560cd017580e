import GRDB
import GRDBSQLite
import P2PDBCore

/// Runs one client transaction on the writer connection and turns what it
/// did into a signed entry, all inside one savepoint of the batch.
///
/// Statements run as the user wrote them, with the change capture on. DDL
/// goes through ``DDLInspector`` and is replaced by the canonical schema
/// change. At the end the captured row images become row changes, the row
/// metadata and state hash are updated, and the entry is stored. Any error
/// rolls the savepoint back, so a failed transaction leaves no trace.
struct LocalTransaction {
    let key: NodeKey
    /// This node's credential in the replica's private network, if any.
    let credential: Credential?
    let capture: ChangeCapture
    let autoKeys: AutoKeys
    let now: Int64
    let maximumEntryBytes: Int
    let limits: StatementLimits

    func run(_ requests: [SQLRequest], _ db: Database, state: inout ReplicaState) throws -> (TransactionResult, [AppliedEntry]) {
        if let refusal = state.ownHistory.refusal { throw refusal }
        var working = state
        try db.run("SAVEPOINT p2pdb_tx")
        do {
            var applied = try mergeHeads(db, state: &working)
            capture.begin(layouts: working.layouts, byteLimit: 8 * maximumEntryBytes)
            let stamp = Stamp(lamport: working.lamport + 1, author: key.nodeID)
            var schemaChanges: [SchemaChange] = []
            var results: [StatementResult] = []
            var statementNumber = 0
            var committed = false
            var budget = limits.maximumResultBytes
            var lastStatement: (sql: String, statement: Statement)?
            var lastKind: (statement: Statement, kind: StatementGuard.Kind)?
            for request in requests {
                try StatementSource.forEach(request, db, last: &lastStatement) { statement, parameters in
                    defer { statementNumber += 1 }
                    let kind: StatementGuard.Kind
                    if let lastKind, lastKind.statement === statement {
                        kind = lastKind.kind
                    } else {
                        kind = try StatementGuard.classify(statement.rawSQL)
                        lastKind = (statement, kind)
                    }
                    if committed {
                        throw P2PDBError(.refused, "statements after COMMIT are refused: send them as another request")
                    }
                    switch kind {
                    case .begin:
                        guard statementNumber == 0 else {
                            throw P2PDBError(.refused, "BEGIN is only allowed as the first statement of a request")
                        }
                    case .commit:
                        committed = true
                    case .createTable, .createIndex, .alterTableAddColumn, .createView, .createTrigger, .drop:
                        capture.pause()
                        let change: SchemaChange?
                        switch kind {
                        case .createTable: change = try DDLInspector.createTable(statement, db)
                        case .createIndex: change = try DDLInspector.createIndex(statement, db, layouts: working.layouts)
                        case .createView: change = try DDLInspector.createObject(.view, statement, db, schema: working.schema)
                        case .createTrigger: change = try DDLInspector.createObject(.trigger, statement, db, schema: working.schema)
                        case .drop(let drop): change = try Self.change(for: drop, schema: working.schema)
                        default: change = try DDLInspector.addColumn(statement, db, layouts: working.layouts)
                        }
                        if let change {
                            let before = working.schema
                            working.schema.apply(change, origin: .init(stamp: stamp, change: schemaChanges.count))
                            let replay = try SchemaSynchronizer.synchronize(db, from: before, state: &working)
                            guard replay.isEmpty else {
                                throw P2PDBError(.refused, "this schema change conflicts with one from another replica; retry after sync")
                            }
                            schemaChanges.append(change)
                            capture.setLayouts(working.layouts)
                        }
                        capture.resume()
                        results.append(StatementResult())
                    case .plain, .delete:
                        let plan = try autoKeys.plan(statement, parameters: parameters, schema: working.schema, layouts: working.layouts, db)
                        // A watcher lives for one statement only: while a
                        // table has a BEFORE INSERT trigger, SQLite checks
                        // its constraints in another order.
                        let watched = plan.filter(\.value).keys.compactMap { tid in working.layouts.values.first { $0.tid == tid } }
                        for layout in watched { try working.captureTriggers?.installWatcher(layout, db) }
                        capture.expectAutoKeys(plan)
                        try working.localRules?.prepareUserStatement(constraints: working.schema.hasConstraints, db)
                        let rules = working.localRules
                        let executed = Result {
                            guard let rules else { return try Self.execute(statement, db, budget: &budget, limits: limits) }
                            return try rules.runUserStatement(deletes: kind == .delete, { try Self.execute(statement, db, budget: &budget, limits: limits) }, db)
                        }
                        for layout in watched { try working.captureTriggers?.removeWatcher(layout, db) }
                        var result = try executed.get()
                        if let violation = capture.violation { throw violation }
                        let autoKeyed = capture.autoKeyed
                        capture.expectAutoKeys([:])
                        if !autoKeyed.isEmpty {
                            try autoKeys.reassign(autoKeyed, result: &result, now: now, db)
                            if let violation = capture.violation { throw violation }
                        }
                        rules?.recordLastInsertRowID(db)
                        results.append(result)
                    }
                    return true
                }
            }
            try working.localRules?.requireResolvedForeignKeys(db)
            try capture.refreshRowsChangedAgain(db)
            let tableChanges = try buildTableChanges(capture.end(), stamp: stamp, db, state: &working)
            var payload = EntryPayload(schemaChanges: schemaChanges, tableChanges: tableChanges)
            var entryID: EntryID?
            if !payload.isEmpty {
                let past = try permit(&payload, state: working, db)
                let entry = Entry.make(
                    author: key, seq: working.ownSeq + 1, lamport: stamp.lamport, parents: Array(working.heads),
                    wallTime: now, payload: payload)
                guard entry.bytes.count <= maximumEntryBytes else {
                    throw P2PDBError(
                        .invalidInput,
                        "this transaction's entry would be \(entry.bytes.count) bytes, over the limit of \(maximumEntryBytes); split it into smaller transactions")
                }
                try Self.requireDecodable(entry)
                let position = try EntryApplier.record(entry, author: working.selfIndex, past: past, db, state: &working)
                try EntryApplier.storeSchemaChanges(schemaChanges, stamp: stamp, position: position, db)
                applied.append(AppliedEntry(position: position, entry: entry))
                entryID = entry.id
            }
            if !applied.isEmpty { try working.saveRowsHash(db) }
            try db.run("RELEASE p2pdb_tx")
            state = working
            return (TransactionResult(results: results, entry: entryID), applied)
        } catch {
            _ = capture.end()
            if db.isInsideTransaction { try? db.execute(sql: "ROLLBACK TO p2pdb_tx; RELEASE p2pdb_tx") }
            throw error
        }
    }

    /// Signs an entry that grants roles or revokes members, if this node
    /// is an admin of its network.
    func administer(_ changes: [MembershipChange], _ db: Database, state: inout ReplicaState) throws -> (TransactionResult, [AppliedEntry]) {
        if let refusal = state.ownHistory.refusal { throw refusal }
        guard state.membership != nil else {
            throw P2PDBError(.invalidInput, "this node is in open mode: there are no members to grant roles to or revoke (see `p2pdb network`)")
        }
        var working = state
        try db.run("SAVEPOINT p2pdb_tx")
        do {
            var applied = try mergeHeads(db, state: &working)
            var payload = EntryPayload(membership: changes)
            let past = try permit(&payload, state: working, db)
            let entry = Entry.make(
                author: key, seq: working.ownSeq + 1, lamport: working.lamport + 1, parents: Array(working.heads), wallTime: now,
                payload: payload)
            let position = try EntryApplier.record(entry, author: working.selfIndex, past: past, db, state: &working)
            applied.append(AppliedEntry(position: position, entry: entry))
            try db.run("RELEASE p2pdb_tx")
            state = working
            return (TransactionResult(results: [], entry: entry.id), applied)
        } catch {
            if db.isInsideTransaction { try? db.execute(sql: "ROLLBACK TO p2pdb_tx; RELEASE p2pdb_tx") }
            throw error
        }
    }

    /// What a DROP statement does to the replicated schema: a DROP of a
    /// view, index or trigger replicates; of something that does not exist,
    /// with IF EXISTS, nothing, as in SQLite.
    private static func change(for drop: StatementGuard.Drop, schema: ReplicatedSchema) throws -> SchemaChange? {
        let kind: SchemaObjectDefinition.Kind
        switch drop.object {
        case "TABLE":
            guard schema.table(named: drop.name) != nil else {
                if drop.ifExists { return nil }
                throw P2PDBError(.invalidSQL, "no such table: \(drop.name)")
            }
            throw P2PDBError(
                .refused,
                "DROP TABLE of a replicated table is refused: other replicas keep writing to \(drop.name) and their rows would bring it back; remove its rows with DELETE FROM \(SQLText.quoteIdentifier(drop.name)) and stop using it")
        case "VIEW": kind = .view
        case "INDEX": kind = .index
        default: kind = .trigger
        }
        guard schema.has(kind, named: drop.name) else {
            if drop.ifExists { return nil }
            throw P2PDBError(.invalidSQL, "no such \(kind.keyword.lowercased()): \(drop.name)")
        }
        return .dropObject(kind: kind, name: drop.name)
    }

    /// In a private network, adds this node's credential to its first entry
    /// and refuses, by the rule every replica applies to received entries,
    /// what this node may not write: a reader's write never becomes an entry.
    /// Returns the fact vector of the entry's parents (its heads), which
    /// ``EntryApplier/record(_:author:past:_:state:)`` takes.
    func permit(_ payload: inout EntryPayload, state: ReplicaState, _ db: Database) throws -> FactVector {
        let past = try NetworkMembers.past(of: state.heads, db, state: state)
        guard let membership = state.membership else { return past }
        payload.membership = membership.changesToCarry(author: key.nodeID, credential: credential) + payload.membership
        if let refusal = membership.refusal(author: key.nodeID, payload: payload, wallTime: now, past: past) {
            let advice =
                credential == nil
                ? "start the node with a credential (`p2pdb network admit` on the machine with the network key)"
                : "ask the network's administrator for a credential with the writer role"
            throw P2PDBError(.forbidden, "this node may not write (\(refusal)); \(advice)")
        }
        return past
    }

    /// A node never signs what its own decoder, and so every other
    /// replica's, would refuse: such a transaction is refused instead.
    private static func requireDecodable(_ entry: Entry) throws {
        do {
            _ = try Entry(bytes: entry.bytes, verifySignature: false)
        } catch {
            throw P2PDBError(.refused, "this transaction cannot be replicated: \(error)")
        }
    }

    /// An entry names every head as a parent, and an entry names at most
    /// ``EntryCodec/maximumParents``. A replica that holds more heads (many
    /// authors that each wrote alone) first writes entries with no changes
    /// that merge them, a limit's worth at a time, so that its own entry
    /// still follows everything it has seen.
    private func mergeHeads(_ db: Database, state: inout ReplicaState) throws -> [AppliedEntry] {
        var merged: [AppliedEntry] = []
        while state.heads.count > EntryCodec.maximumParents {
            let parents = Array(state.heads.sorted().prefix(EntryCodec.maximumParents))
            var lamport: UInt64 = 0
            for parent in parents { lamport = max(lamport, try LogStore.lamport(db, of: parent) ?? 0) }
            var payload = EntryPayload()
            let past = try permit(&payload, state: state, db)
            let entry = Entry.make(
                author: key, seq: state.ownSeq + 1, lamport: lamport + 1, parents: parents, wallTime: now, payload: payload)
            let position = try EntryApplier.record(entry, author: state.selfIndex, past: past, db, state: &state)
            merged.append(AppliedEntry(position: position, entry: entry))
        }
        return merged
    }

    /// Runs a bound statement to completion, collecting its rows, and takes
    /// their size from the request's `budget` of result bytes.
    static func execute(_ statement: Statement, _ db: Database, budget: inout Int, limits: StatementLimits) throws -> StatementResult {
        var rows: [[Value]] = []
        // Reset whatever happens: a statement left unreset counts as
        // running, and `EXPLAIN UPDATE` would then stop every later commit.
        defer { sqlite3_reset(statement.sqliteStatement) }
        let totalChangesBefore = db.totalChangesCount
        // SQLite prepares the statement again while stepping after a schema
        // change: under the client rules too.
        try StatementSource.underClientRules(db) {
            while try statement.stepRaw() {
                let row = statement.currentRowRaw()
                budget -= StatementLimits.resultCost(ofRow: row)
                guard budget >= 0 else { throw limits.resultTooLarge() }
                rows.append(row)
            }
        }
        // SQLite's count is that of the last INSERT, UPDATE or DELETE the
        // connection ran: stale after EXPLAIN or DDL, which changed nothing.
        let changes = db.totalChangesCount == totalChangesBefore ? 0 : db.changesCount
        // Read after stepping: SQLite prepares a statement again when the
        // schema changed since (another replica's ADD COLUMN, say), and
        // only then reports the columns as they now are.
        if statement.columnCount > 0 {
            return StatementResult(columns: statement.currentColumnNames, rows: rows, changes: changes, isQuery: true)
        }
        return StatementResult(changes: changes)
    }

    // MARK: Row changes

    /// The changes to one table while they are collected. Row changes name
    /// columns by physical index until the table's column list is known.
    private struct PendingTable {
        var layout: TableLayout
        var rows: [RowChange] = []
        var used: [Bool]

        init(layout: TableLayout) {
            self.layout = layout
            used = Array(repeating: false, count: layout.columnCount)
        }
    }

    /// Turns captured row images into row changes, updating row metadata and
    /// the state hash as it goes.
    private func buildTableChanges(
        _ touched: [ChangeCapture.TouchedRow], stamp: Stamp, _ db: Database, state: inout ReplicaState
    ) throws -> [TableChanges] {
        var tables: [PendingTable] = []
        var tableIndex: [Int64: Int] = [:]
        let localStamp = RowMetadata.LocalStamp(lamport: stamp.lamport, author: state.selfIndex)
        for row in touched {
            guard let layout = state.layouts[row.layout.key] else { continue }
            let original = row.original.map { pad($0, to: layout) }
            let final = row.final.map { pad($0, to: layout) }
            if let final { try validate(final, key: row.primaryKey, layout: layout, db) }
            let key = TableLayout.encodeKey(row.primaryKey)
            var change: RowChange
            switch (original, final) {
            case (nil, nil):
                continue
            case (nil, let final?):
                let causalLength = try RowMetadataStore.recordInsert(db, tid: layout.tid, key: key, stamp: localStamp)
                change = RowChange(kind: .insert, causalLength: causalLength, primaryKey: row.primaryKey)
                for index in final.indices where !layout.isPrimaryKey[index] {
                    if layout.isCounter[index] {
                        if case .integer(let amount) = final[index], amount != 0 {
                            change.deltas.append(ColumnDelta(column: index, delta: amount))
                        }
                    } else {
                        change.values.append(ColumnValue(column: index, value: final[index]))
                    }
                }
            case (let original?, let final?):
                change = RowChange(kind: .update, causalLength: 0, primaryKey: row.primaryKey)
                for index in final.indices where !layout.isPrimaryKey[index] && final[index] != original[index] {
                    if layout.isCounter[index] {
                        let delta = integer(final[index]) &- integer(original[index])
                        if delta != 0 { change.deltas.append(ColumnDelta(column: index, delta: delta)) }
                    } else {
                        change.values.append(ColumnValue(column: index, value: final[index]))
                    }
                }
                if change.values.isEmpty && change.deltas.isEmpty { continue }
                var metadata = try RowMetadataStore.load(db, tid: layout.tid, key: key)
                    ?? RowMetadata(causalLength: 1, base: localStamp, overrides: [:])
                metadata.record(localStamp, columns: change.values.map(\.column), registerColumns: layout.registerIndexes)
                try RowMetadataStore.save(db, tid: layout.tid, key: key, metadata)
                change.causalLength = metadata.causalLength
            case (_?, nil):
                let previous = try RowMetadataStore.load(db, tid: layout.tid, key: key)?.causalLength ?? 1
                let causalLength = previous % 2 == 1 ? previous + 1 : previous + 2
                try RowMetadataStore.save(
                    db, tid: layout.tid, key: key, RowMetadata(causalLength: causalLength, base: localStamp, overrides: [:]))
                change = RowChange(kind: .delete, causalLength: causalLength, primaryKey: row.primaryKey)
            }
            if let original { state.rowsHash.subtract(layout.digest(of: original)) }
            if let final { state.rowsHash.add(layout.digest(of: final)) }
            let position: Int
            if let found = tableIndex[layout.tid] {
                position = found
            } else {
                position = tables.count
                tableIndex[layout.tid] = position
                tables.append(PendingTable(layout: layout))
            }
            for value in change.values { tables[position].used[value.column] = true }
            for delta in change.deltas { tables[position].used[delta.column] = true }
            tables[position].rows.append(change)
        }
        return tables.map { table in
            // Physical column indexes become indexes into the table's list
            // of the columns its changes use; the order is kept.
            var compact = Array(repeating: 0, count: table.used.count)
            var columns: [String] = []
            for (index, used) in table.used.enumerated() where used {
                compact[index] = columns.count
                columns.append(table.layout.columnNames[index])
            }
            let rows = table.rows.map { row in
                var row = row
                for item in row.values.indices { row.values[item].column = compact[row.values[item].column] }
                for item in row.deltas.indices { row.deltas[item].column = compact[row.deltas[item].column] }
                return row
            }
            return TableChanges(
                table: table.layout.name, primaryKeyColumns: table.layout.table.primaryKey, columns: columns, rows: rows)
        }
    }

    /// Rows captured before an ALTER TABLE ADD COLUMN in the same
    /// transaction lack the new columns, which hold their literal default.
    private func pad(_ row: [Value], to layout: TableLayout) -> [Value] {
        guard row.count < layout.columnCount else { return row }
        return row + layout.storedDefaults[row.count...]
    }

    private func validate(_ row: [Value], key: [Value], layout: TableLayout, _ db: Database) throws {
        // Every replica identifies the row by the key as SQLite compares it;
        // a key stored in another form than that would be a second name
        // for the same row.
        if let canonical = layout.canonicalKey(key), canonical != key,
            let position = key.indices.first(where: { key[$0] != canonical[$0] })
        {
            let column = layout.columnNames[layout.primaryKeyIndexes[position]]
            throw P2PDBError(
                .refused,
                "the key value \(key[position]) in \(layout.name).\(column) is the same key as \(canonical[position]) to SQLite; write it as \(canonical[position])")
        }
        if layout.primaryKeyIndexes.contains(where: { layout.affinities[$0] == .real }),
            try db.cachedStatement(sql: layout.countKeySQL).firstRowRaw(key)?.first != .integer(1)
        {
            // A REAL column keeps an integer too large for a double as that
            // integer, but reads it back rounded: two keys, one value.
            throw P2PDBError(
                .refused,
                "a key of \(layout.name) reads back as \(key), like another row's: an integer beyond 2^53 cannot be stored exactly in a REAL key column; use an INTEGER or TEXT key")
        }
        for index in row.indices where layout.isCounter[index] {
            guard case .integer = row[index] else {
                throw P2PDBError(
                    .invalidInput,
                    "column \(layout.name).\(layout.columnNames[index]) is a COUNTER and holds integers; got \(row[index].typeName)")
            }
        }
    }

    private func integer(_ value: Value) -> Int64 {
        if case .integer(let integer) = value { return integer }
        return 0
    }
}

extension EntryApplier {
    /// Stores a local entry's schema changes, already merged into the schema.
    static func storeSchemaChanges(_ changes: [SchemaChange], stamp: Stamp, position: Int64, _ db: Database) throws {
        for (index, change) in changes.enumerated() {
            var writer = ByteWriter()
            EntryCodec.encode(change, into: &writer)
            try db.execute(
                sql: "INSERT INTO _p2pdb_schema_changes(position, change_index, lamport, author, change) VALUES (?, ?, ?, ?, ?)",
                arguments: [position, index, Int64(stamp.lamport), stamp.author.raw.bytes.databaseBlob, writer.bytes.databaseBlob])
        }
    }
}
