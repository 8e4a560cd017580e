import GRDB
import P2PDBCore

/// Brings a replica file written by an older build up to date by deriving
/// everything from its log again, exactly as `verify` does: the replicated
/// tables, the merge metadata, the schema, the heads, the version vector
/// and the state hash. The signed entries are the source of truth; all the
/// rest is derived, and older builds derived some of it differently.
///
/// Runs inside the transaction that opens the file: an interrupted upgrade
/// leaves the old file as it was.
enum StorageUpgrade {
    static func rederive(_ db: Database, nodeID: NodeID) throws {
        try db.execute(sql: "ALTER TABLE _p2pdb_entries RENAME TO _p2pdb_upgrade_entries")
        let objects = try Row.fetchAll(db, sql: "SELECT type, name FROM sqlite_schema WHERE type IN ('table', 'index') AND sql IS NOT NULL")
        // Everything but the entries, the settings and the entries that
        // wait for their parents is derived; the log's index is made again.
        let kept: Set<String> = ["_p2pdb_upgrade_entries", "_p2pdb_meta", "_p2pdb_pending"]
        for row in objects {
            let (type, name): (String, String) = (row[0], row[1])
            guard !kept.contains(name), !name.hasPrefix("sqlite_") else { continue }
            try db.execute(sql: "DROP \(type == "table" ? "TABLE" : "INDEX") IF EXISTS \(SQLText.quoteIdentifier(name))")
        }
        try db.execute(sql: "DELETE FROM _p2pdb_meta WHERE key = 'rows_hash'")
        _ = try InternalSchema.create(db)
        var state = try ReplicaState.load(db, selfID: nodeID)
        let entries = try db.makeStatement(sql: "SELECT body FROM _p2pdb_upgrade_entries ORDER BY position")
        while try entries.stepRaw() {
            guard case .blob(let body) = entries.columnRaw(0) else { continue }
            let entry = try Entry(bytes: body, verifySignature: false)
            _ = try EntryApplier.apply(entry, db, state: &state, now: 0, maximumPending: .max)
        }
        try state.saveRowsHash(db)
        try db.execute(sql: "DROP TABLE _p2pdb_upgrade_entries")
    }
}
