import P2PDB

/// The differential check of a case with one writer: every transaction runs
/// on plain SQLite too, and what P2PDB accepts, returns and holds must be
/// what SQLite does, except where P2PDB refuses by design.
extension SurfaceCase {
    /// Runs the same transaction on plain SQLite and compares what each
    /// returned and holds. After the first difference the two are no longer
    /// compared: everything after it would differ too.
    func compare(_ outcome: TransactionOutcome, _ statements: [ScriptStatement], with reference: ReferenceDatabase) async {
        let plain = reference.run(statements)
        var commit = false
        switch (outcome, plain) {
        case (.accepted(let result), .success(let outcomes)):
            commit = true
            compareResults(result.results, outcomes, statements.filter { $0.role == .other })
        case (.accepted, .failure(let failure)):
            differ("P2PDB accepts what SQLite refuses: " + StoredValue.escaped(RefusalReason.pattern(of: failure.message)), "SQLite: " + StoredValue.escaped(failure.message))
        case (.failed(let error), .success) where error.kind == .constraint && error.message == "FOREIGN KEY constraint failed"
            && (reference.leavesDanglingReferences() || Self.resolvesConflicts(statements)):
            // Stricter than SQLite, by design (README): SQLite skips some
            // foreign key checks of statements that resolve conflicts with
            // REPLACE on tables without delete triggers; every replicated
            // table has the capture's, so P2PDB checks them as SQLite checks
            // every other statement.
            break
        case (.failed(let error), .success) where error.kind == .constraint && error.message.hasPrefix("cannot store ")
            && Self.resolvesConflicts(statements) && reference.hasTriggersOrForeignKeys():
            // By design (README): on a table a trigger is on or writes, or
            // with a foreign key to itself, the capture's BEFORE UPDATE
            // trigger (or an insert watcher) makes SQLite check a STRICT
            // column's type before OR IGNORE, REPLACE or an upsert can
            // resolve the row.
            break
        case (.failed(let error), .success) where error.kind == .invalidSQL && Self.namesAMissingObject(error.message)
            && reference.hasTriggers():
            // By design (README): the change capture keeps SQLite's
            // recursive triggers on, so a trigger whose body names a table or
            // column that does not exist is compiled into statements (REPLACE)
            // that plain SQLite runs without it.
            break
        case (.failed(let error), .success):
            differ("P2PDB fails where SQLite succeeds: " + StoredValue.escaped(RefusalReason.pattern(of: error.message)), "P2PDB: " + StoredValue.escaped(error.message))
        case (.unexpected, _):
            // Already a failure of the case; stop comparing.
            self.reference = nil
        case (.refused, _), (.failed, .failure):
            break
        }
        reference.finish(commit: commit)
        guard self.reference != nil, let store = stores.first else { return }
        do {
            let mine = try await DatabaseSnapshot.read { sql, parameters in try await store.query(SQLRequest(sql, parameters)).last?.rows ?? [] }
            let theirs = try await DatabaseSnapshot.read { sql, parameters in try reference.query(sql, parameters) }
            if let difference = mine.differences(from: theirs, "P2PDB", "SQLite", schemaDetail: false).first {
                differ(difference.kind + " differ from SQLite", difference.detail)
            }
        } catch {
            differ("the tables cannot be read after a transaction", "\(error)")
        }
    }

    private func compareResults(_ results: [StatementResult], _ outcomes: [ReferenceDatabase.StatementOutcome], _ statements: [ScriptStatement]) {
        guard results.count == outcomes.count else {
            differ("statement results differ from SQLite", "P2PDB returned \(results.count) results, SQLite \(outcomes.count)")
            return
        }
        for (index, (mine, theirs)) in zip(results, outcomes).enumerated() {
            let sql = StoredValue.escaped(statements[index].sql)
            let myRows = DatabaseSnapshot.sorted(DatabaseSnapshot.stored(mine.rows))
            let theirRows = DatabaseSnapshot.sorted(DatabaseSnapshot.stored(theirs.rows))
            if mine.isQuery != theirs.isQuery || (mine.isQuery && mine.columns != theirs.columns) || myRows != theirRows {
                differ(
                    "statement results differ from SQLite",
                    "\(sql): P2PDB \(mine.columns) " + myRows.map(\.rowDescription).joined(separator: " ") + "; SQLite \(theirs.columns) "
                        + theirRows.map(\.rowDescription).joined(separator: " "))
                return
            }
            if Self.isDataChange(statements[index].sql), mine.changes != theirs.changes {
                differ("changed-row counts differ from SQLite", "\(sql): P2PDB \(mine.changes), SQLite \(theirs.changes)")
                return
            }
        }
    }

    private static func resolvesConflicts(_ statements: [ScriptStatement]) -> Bool {
        statements.contains { statement in ["REPLACE", "IGNORE", "ON CONFLICT"].contains { statement.sql.uppercased().contains($0) } }
    }

    private static func namesAMissingObject(_ message: String) -> Bool {
        message.hasPrefix("no such table: ") || message.hasPrefix("no such column: ") || message.contains(" has no column named ")
    }

    private static func isDataChange(_ sql: String) -> Bool {
        let word = sql.prefix { $0.isLetter }.uppercased()
        return ["INSERT", "REPLACE", "UPDATE", "DELETE"].contains(word)
    }

    private func differ(_ kind: String, _ detail: String) {
        fail(kind, detail)
        reference = nil
    }
}
