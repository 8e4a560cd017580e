import GRDB
import P2PDBCore

/// The authors this replica has entries from, numbered locally so that row
/// metadata stores a small integer instead of a 32-byte node ID, with the
/// highest contiguous sequence number held from each: the version vector.
struct AuthorTable {
    private(set) var nodeIDs: [Int64: NodeID] = [:]
    private(set) var indexes: [NodeID: Int64] = [:]
    private(set) var contiguous: [Int64: UInt64] = [:]

    static func load(_ db: Database) throws -> AuthorTable {
        var table = AuthorTable()
        for row in try Row.fetchAll(db, sql: "SELECT idx, node_id, contiguous_seq FROM _p2pdb_authors") {
            let index: Int64 = row[0]
            guard let bytes = (row[1] as DatabaseValue).storage.blobBytes, let raw = Bytes32(bytes) else {
                throw P2PDBError(.corrupt, "author \(index) has a malformed node ID in _p2pdb_authors")
            }
            let nodeID = NodeID(raw)
            table.nodeIDs[index] = nodeID
            table.indexes[nodeID] = index
            table.contiguous[index] = UInt64(row[2] as Int64)
        }
        return table
    }

    func nodeID(_ index: Int64) -> NodeID? { nodeIDs[index] }

    /// The local number of `author`, registering it on first sight.
    mutating func index(of author: NodeID, _ db: Database) throws -> Int64 {
        if let index = indexes[author] { return index }
        try db.execute(sql: "INSERT INTO _p2pdb_authors(node_id) VALUES (?)", arguments: [author.raw.bytes.databaseBlob])
        let index = db.lastInsertedRowID
        nodeIDs[index] = author
        indexes[author] = index
        contiguous[index] = 0
        return index
    }

    func contiguousSeq(of index: Int64) -> UInt64 { contiguous[index] ?? 0 }

    mutating func setContiguousSeq(_ seq: UInt64, of index: Int64, _ db: Database) throws {
        contiguous[index] = seq
        let statement = try db.cachedStatement(sql: "UPDATE _p2pdb_authors SET contiguous_seq = ? WHERE idx = ?")
        statement.setUncheckedArguments([Int64(seq), index])
        try statement.execute()
    }

    var versionVector: VersionVector {
        var counts: [NodeID: UInt64] = [:]
        for (index, seq) in contiguous {
            if let nodeID = nodeIDs[index] { counts[nodeID] = seq }
        }
        return VersionVector(counts)
    }

    /// Orders two local stamps as their global stamps are ordered.
    func precedes(_ lhs: RowMetadata.LocalStamp, _ rhs: RowMetadata.LocalStamp) -> Bool {
        if lhs.lamport != rhs.lamport { return lhs.lamport < rhs.lamport }
        guard let left = nodeIDs[lhs.author], let right = nodeIDs[rhs.author] else { return lhs.author < rhs.author }
        return left < right
    }
}
