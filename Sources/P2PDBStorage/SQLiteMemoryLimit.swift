import GRDBSQLite

/// The memory SQLite may take in this whole process, over every replica and
/// connection: page caches, sorts, values and prepared statements.
///
/// Past the limit an allocation fails and the statement that asked for it
/// fails with ``P2PDBError/Kind/busy`` (retry shortly), while memory others
/// hold is left alone; half of it is SQLite's soft limit, past which it
/// frees cache pages before it grows. A node serving clients sets it
/// (`p2pdb serve --max-sqlite-memory`); an app embedding P2PDB decides for
/// its own process.
///
/// ```swift
/// SQLiteMemoryLimit.set(bytes: 1 << 30)
/// ```
public enum SQLiteMemoryLimit {
    public static func set(bytes: Int) {
        let limit = Int64(max(0, bytes))
        sqlite3_hard_heap_limit64(limit)
        sqlite3_soft_heap_limit64(limit / 2)
    }

    /// What SQLite holds now, in bytes.
    public static var used: Int { Int(sqlite3_memory_used()) }
}
