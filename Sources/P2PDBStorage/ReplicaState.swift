import GRDB
import P2PDBCore

/// Everything the writer keeps in memory about the replica, loaded at open
/// and updated by each transaction. A value type: the writer copies it
/// before a transaction and puts the copy back if the transaction fails, so
/// memory never runs ahead of what was committed.
struct ReplicaState {
    let selfID: NodeID
    var selfIndex: Int64
    var authors: AuthorTable
    var lamport: UInt64
    var heads: Set<EntryID>
    var schema: ReplicatedSchema
    var layouts: [IdentifierKey: TableLayout]
    var rowsHash: StateHash
    var entryCount: Int64
    var lastPosition: Int64
    /// Entries stored in `_p2pdb_pending`, waiting for their parents.
    var pendingCount: Int
    /// The writer's change-capture triggers, kept in step with the layouts;
    /// nil on connections that only merge (verify's scratch replica).
    var captureTriggers: CaptureTriggers?
    /// The tables whose capture triggers register rows in write order
    /// (``CaptureTriggers/writtenTwice(_:)``).
    var writeOrderTables: Set<IdentifierKey> = []
    /// Foreign keys, checks and user triggers for the writer's own writes;
    /// nil on connections that only merge.
    var localRules: LocalWriteRules?
    /// Whether this node's own earlier entries are all here; local writes
    /// wait until they are.
    var ownHistory: OwnHistory
    /// The private network the replica belongs to and what its members may
    /// do; nil in open mode.
    var membership: NetworkMembership?

    var ownSeq: UInt64 { authors.contiguousSeq(of: selfIndex) }

    var stateHash: StateHash {
        var hash = rowsHash
        hash.add(schema.digest)
        return hash
    }

    var localStamp: RowMetadata.LocalStamp { RowMetadata.LocalStamp(lamport: lamport, author: selfIndex) }

    static func load(_ db: Database, selfID: NodeID) throws -> ReplicaState {
        var authors = try AuthorTable.load(db)
        let selfIndex = try authors.index(of: selfID, db)
        let lamport = UInt64(try Int64.fetchOne(db, sql: "SELECT max(lamport) FROM _p2pdb_entries") ?? 0)
        let entryCount = try Int64.fetchOne(db, sql: "SELECT count(*) FROM _p2pdb_entries") ?? 0
        let lastPosition = try Int64.fetchOne(db, sql: "SELECT max(position) FROM _p2pdb_entries") ?? 0
        var rowsHash = StateHash.zero
        if let bytes = try DatabaseValue.fetchOne(db, sql: "SELECT value FROM _p2pdb_meta WHERE key = 'rows_hash'")?
            .storage.blobBytes
        {
            guard let value = Bytes32(bytes) else { throw P2PDBError(.corrupt, "stored state hash is malformed") }
            rowsHash = StateHash(value: value)
        }
        var schema = ReplicatedSchema()
        let changes = try Row.fetchAll(
            db, sql: "SELECT lamport, author, change, change_index FROM _p2pdb_schema_changes ORDER BY position, change_index")
        for row in changes {
            guard let authorBytes = (row[1] as DatabaseValue).storage.blobBytes, let author = Bytes32(authorBytes),
                let bytes = (row[2] as DatabaseValue).storage.blobBytes
            else { throw P2PDBError(.corrupt, "a stored schema change is malformed") }
            var reader = ByteReader(bytes)
            let change = try EntryCodec.decodeSchemaChange(&reader)
            let stamp = Stamp(lamport: UInt64(row[0] as Int64), author: NodeID(author))
            schema.apply(change, origin: .init(stamp: stamp, change: row[3]))
        }
        var layouts: [IdentifierKey: TableLayout] = [:]
        let tids = Dictionary(
            try Row.fetchAll(db, sql: "SELECT key, tid FROM _p2pdb_tables").map { (IdentifierKey($0[0] as String), $0[1] as Int64) },
            uniquingKeysWith: { first, _ in first })
        for (key, table) in schema.tables {
            guard let tid = tids[key] else {
                throw P2PDBError(.corrupt, "replicated table \(table.name) has no local number in _p2pdb_tables")
            }
            layouts[key] = TableLayout(tid: tid, table: table)
        }
        return ReplicaState(
            selfID: selfID, selfIndex: selfIndex, authors: authors, lamport: lamport, heads: try LogStore.heads(db),
            schema: schema, layouts: layouts, rowsHash: rowsHash, entryCount: entryCount, lastPosition: lastPosition,
            pendingCount: try LogStore.pendingCount(db), ownHistory: try OwnHistory.load(db), membership: try NetworkMembers.load(db))
    }

    func saveRowsHash(_ db: Database) throws {
        let statement = try db.cachedStatement(
            sql: "INSERT OR REPLACE INTO _p2pdb_meta(key, value) VALUES ('rows_hash', ?)")
        statement.setUncheckedArguments([rowsHash.value.bytes.databaseBlob])
        try statement.execute()
    }
}
