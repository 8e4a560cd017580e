import GRDB
import P2PDBCore

/// A stored entry as listed by `p2pdb log` and the HTTP API.
public struct EntrySummary: Sendable, Equatable {
    public var position: Int64
    public var id: EntryID
    public var author: NodeID
    public var seq: UInt64
    public var lamport: UInt64
    public var parents: [EntryID]
    public var wallTime: Int64
    public var changeCount: Int
}

/// Reads and writes the log tables: entries, heads, pending entries and
/// equivocation evidence.
enum LogStore {
    static func contains(_ db: Database, id: EntryID) throws -> Bool {
        let statement = try db.cachedStatement(sql: "SELECT 1 FROM _p2pdb_entries WHERE id = ?")
        return try statement.firstRowRaw([.blob(id.raw.bytes)]) != nil
    }

    static func lamport(_ db: Database, of id: EntryID) throws -> UInt64? {
        let statement = try db.cachedStatement(sql: "SELECT lamport FROM _p2pdb_entries WHERE id = ?")
        guard case .integer(let lamport)? = try statement.firstRowRaw([.blob(id.raw.bytes)])?.first else { return nil }
        return UInt64(lamport)
    }

    /// The IDs of stored entries by `author` with sequence number `seq`.
    static func ids(_ db: Database, author: Int64, seq: UInt64) throws -> [EntryID] {
        let statement = try db.cachedStatement(sql: "SELECT id FROM _p2pdb_entries WHERE author = ? AND seq = ?")
        statement.setUncheckedArguments([author, Int64(seq)])
        return try DatabaseValue.fetchAll(statement).compactMap { $0.storage.blobBytes.flatMap(Bytes32.init).map(EntryID.init) }
    }

    @discardableResult
    static func insert(_ db: Database, _ entry: Entry, author: Int64) throws -> Int64 {
        let statement = try db.cachedStatement(
            sql: "INSERT INTO _p2pdb_entries(id, author, seq, lamport, changes, body) VALUES (?, ?, ?, ?, ?, ?)")
        try statement.runRaw([
            .blob(entry.id.raw.bytes), .integer(author), .integer(Int64(entry.seq)), .integer(Int64(entry.lamport)),
            .integer(Int64(entry.rowChangeCount)), .blob(entry.bytes),
        ])
        return db.lastInsertedRowID
    }

    /// Makes `entry` a head in place of the parents it names.
    static func advanceHeads(_ db: Database, heads: inout Set<EntryID>, with entry: Entry) throws {
        let delete = try db.cachedStatement(sql: "DELETE FROM _p2pdb_heads WHERE id = ?")
        for parent in entry.parents where heads.remove(parent) != nil {
            delete.setUncheckedArguments([parent.raw.bytes.databaseBlob])
            try delete.execute()
        }
        let insert = try db.cachedStatement(sql: "INSERT OR IGNORE INTO _p2pdb_heads(id) VALUES (?)")
        insert.setUncheckedArguments([entry.id.raw.bytes.databaseBlob])
        try insert.execute()
        heads.insert(entry.id)
    }

    static func heads(_ db: Database) throws -> Set<EntryID> {
        Set(try DatabaseValue.fetchAll(db, sql: "SELECT id FROM _p2pdb_heads").compactMap {
            $0.storage.blobBytes.flatMap(Bytes32.init).map(EntryID.init)
        })
    }

    static func body(_ db: Database, id: EntryID) throws -> [UInt8]? {
        let statement = try db.cachedStatement(sql: "SELECT body FROM _p2pdb_entries WHERE id = ?")
        statement.setUncheckedArguments([id.raw.bytes.databaseBlob])
        return try DatabaseValue.fetchOne(statement)?.storage.blobBytes
    }

    static func position(_ db: Database, of id: EntryID) throws -> Int64? {
        let statement = try db.cachedStatement(sql: "SELECT position FROM _p2pdb_entries WHERE id = ?")
        statement.setUncheckedArguments([id.raw.bytes.databaseBlob])
        return try Int64.fetchOne(statement)
    }

    /// Entries in arrival order after `position`, at most `limit`, as
    /// (position, bytes).
    static func bodies(_ db: Database, after position: Int64, limit: Int) throws -> [(Int64, [UInt8])] {
        try Row.fetchAll(
            db, sql: "SELECT position, body FROM _p2pdb_entries WHERE position > ? ORDER BY position LIMIT ?",
            arguments: [position, limit]
        ).map { ($0[0], ($0[1] as DatabaseValue).storage.blobBytes ?? []) }
    }

    static func recordEquivocation(_ db: Database, author: Int64, seq: UInt64, first: EntryID, second: EntryID) throws {
        try db.execute(
            sql: "INSERT OR IGNORE INTO _p2pdb_equivocations(author, seq, first_id, second_id) VALUES (?, ?, ?, ?)",
            arguments: [author, Int64(seq), first.raw.bytes.databaseBlob, second.raw.bytes.databaseBlob])
    }

    // MARK: Pending entries

    static func addPending(_ db: Database, _ entry: Entry, receivedAt: Int64) throws {
        try db.execute(
            sql: "INSERT OR IGNORE INTO _p2pdb_pending(id, body, received) VALUES (?, ?, ?)",
            arguments: [entry.id.raw.bytes.databaseBlob, entry.bytes.databaseBlob, receivedAt])
    }

    static func isPending(_ db: Database, id: EntryID) throws -> Bool {
        let statement = try db.cachedStatement(sql: "SELECT 1 FROM _p2pdb_pending WHERE id = ?")
        return try statement.firstRowRaw([.blob(id.raw.bytes)]) != nil
    }

    static func removePending(_ db: Database, id: EntryID) throws {
        try db.execute(sql: "DELETE FROM _p2pdb_pending WHERE id = ?", arguments: [id.raw.bytes.databaseBlob])
    }

    static func pendingBodies(_ db: Database) throws -> [[UInt8]] {
        try DatabaseValue.fetchAll(db, sql: "SELECT body FROM _p2pdb_pending ORDER BY received, id").compactMap {
            $0.storage.blobBytes
        }
    }

    static func pendingCount(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM _p2pdb_pending") ?? 0
    }
}
