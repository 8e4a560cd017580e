import GRDB
import P2PDBCore

/// P2PDB's own tables inside the replica file. Their names start with
/// `_p2pdb_`; user SQL may neither read nor write them.
enum InternalSchema {
    static let prefix = "_p2pdb_"
    /// Bumped when the layout of these tables, or how the replica is derived
    /// from the log, changes; a newer file is refused by an older build
    /// instead of being misread, an older one is upgraded when it opens.
    /// Version 3: values in the form SQLite stores them, identifiers as
    /// SQLite compares them, integer-valued keys as integers.
    static let storageVersion = 3

    static func isInternalP2PDB(_ name: String) -> Bool { SQLText.key(name).hasPrefix(prefix) }

    static func isInternal(_ name: String) -> Bool {
        SQLText.key(name).hasPrefix(prefix) || SQLText.key(name).hasPrefix("sqlite_")
    }

    static let creation = """
        CREATE TABLE IF NOT EXISTS _p2pdb_meta (
            key TEXT PRIMARY KEY,
            value
        ) WITHOUT ROWID;
        -- Local numbering of authors; contiguous_seq is the version vector.
        CREATE TABLE IF NOT EXISTS _p2pdb_authors (
            idx INTEGER PRIMARY KEY,
            node_id BLOB NOT NULL UNIQUE,
            contiguous_seq INTEGER NOT NULL DEFAULT 0
        );
        -- The log. rowid is the local arrival order, always a causal order.
        CREATE TABLE IF NOT EXISTS _p2pdb_entries (
            position INTEGER PRIMARY KEY,
            id BLOB NOT NULL UNIQUE,
            author INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            lamport INTEGER NOT NULL,
            changes INTEGER NOT NULL,
            body BLOB NOT NULL
        );
        CREATE INDEX IF NOT EXISTS _p2pdb_entries_by_author ON _p2pdb_entries(author, seq);
        CREATE TABLE IF NOT EXISTS _p2pdb_heads (id BLOB PRIMARY KEY) WITHOUT ROWID;
        -- Verified entries waiting for their parents.
        CREATE TABLE IF NOT EXISTS _p2pdb_pending (
            id BLOB PRIMARY KEY,
            body BLOB NOT NULL,
            received INTEGER NOT NULL
        ) WITHOUT ROWID;
        -- Evidence of authors that signed two entries with one sequence number.
        CREATE TABLE IF NOT EXISTS _p2pdb_equivocations (
            author INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            first_id BLOB NOT NULL,
            second_id BLOB NOT NULL,
            PRIMARY KEY (author, seq, second_id)
        ) WITHOUT ROWID;
        -- Every schema change in the log, replayed at open to rebuild the
        -- merged schema without decoding every entry.
        CREATE TABLE IF NOT EXISTS _p2pdb_schema_changes (
            position INTEGER NOT NULL,
            change_index INTEGER NOT NULL,
            lamport INTEGER NOT NULL,
            author BLOB NOT NULL,
            change BLOB NOT NULL,
            PRIMARY KEY (position, change_index)
        ) WITHOUT ROWID;
        -- Stable local numbers for replicated tables, used by row metadata.
        CREATE TABLE IF NOT EXISTS _p2pdb_tables (
            key TEXT PRIMARY KEY,
            tid INTEGER NOT NULL UNIQUE
        ) WITHOUT ROWID;
        -- Merge metadata of every row ever written, tombstones included:
        -- causal length, the stamp of the last write, per-column stamps
        -- where columns were written at different stamps.
        CREATE TABLE IF NOT EXISTS _p2pdb_rows (
            tid INTEGER NOT NULL,
            pk BLOB NOT NULL,
            cl INTEGER NOT NULL,
            lamport INTEGER NOT NULL,
            author INTEGER NOT NULL,
            clocks BLOB,
            PRIMARY KEY (tid, pk)
        ) WITHOUT ROWID;
        -- In a private network: the credential each author's history carries.
        CREATE TABLE IF NOT EXISTS _p2pdb_members (
            node_id BLOB PRIMARY KEY,
            credential BLOB NOT NULL
        ) WITHOUT ROWID;
        -- In a private network: which admins' grants and revocations are in
        -- each entry's past (kept where any are), and which entries carry some.
        CREATE TABLE IF NOT EXISTS _p2pdb_fact_vectors (
            id BLOB PRIMARY KEY,
            vector BLOB NOT NULL,
            carries_facts INTEGER NOT NULL
        ) WITHOUT ROWID;
        -- Tables and columns that changes named before this replica knew
        -- them; they are rebuilt from the log once their schema arrives.
        CREATE TABLE IF NOT EXISTS _p2pdb_orphans (
            table_key TEXT NOT NULL,
            column_key TEXT NOT NULL,
            PRIMARY KEY (table_key, column_key)
        ) WITHOUT ROWID;
        """

    /// Creates the internal tables of a new file, or checks the version
    /// of an existing one.
    ///
    /// - Returns: true if the file was written by an older build: its
    ///   tables and merge state must then be derived again from its log
    ///   (``StorageUpgrade``), because older builds derived some of them
    ///   differently.
    static func create(_ db: Database) throws -> Bool {
        try db.execute(sql: creation)
        let version = try Int.fetchOne(db, sql: "SELECT value FROM _p2pdb_meta WHERE key = 'storage_version'")
        switch version {
        case nil:
            try db.execute(
                sql: "INSERT INTO _p2pdb_meta(key, value) VALUES ('storage_version', ?)", arguments: [storageVersion])
            return false
        case storageVersion?:
            return false
        case let older? where older < storageVersion:
            try db.execute(
                sql: "UPDATE _p2pdb_meta SET value = ? WHERE key = 'storage_version'", arguments: [storageVersion])
            return true
        case let other?:
            throw P2PDBError(
                .storage,
                "the replica file has storage version \(other), this build reads version \(storageVersion); upgrade p2pdb")
        }
    }
}
