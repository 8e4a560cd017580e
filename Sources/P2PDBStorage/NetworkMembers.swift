import GRDB
import P2PDBCore

/// Where a replica keeps its private network: the network's ID in
/// `_p2pdb_meta` (a replica belongs to one network for life), and the
/// credential each author's history carries in `_p2pdb_members`, derived
/// from the log like every other internal table.
enum NetworkMembers {
    /// The replica's network and members; nil for a replica in open mode.
    static func load(_ db: Database) throws -> NetworkMembership? {
        guard let network = try network(db) else { return nil }
        var credentials: [NodeID: Credential] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT node_id, credential FROM _p2pdb_members") {
            guard let bytes = (row[1] as DatabaseValue).storage.blobBytes, let credential = try? Credential(bytes: bytes),
                (row[0] as DatabaseValue).storage.blobBytes == credential.node.raw.bytes
            else {
                throw P2PDBError(.corrupt, "_p2pdb_members holds a malformed credential; run `p2pdb verify`")
            }
            credentials[credential.node] = credential
        }
        return NetworkMembership(network: network, credentials: credentials)
    }

    static func network(_ db: Database) throws -> NetworkID? {
        guard let value = try DatabaseValue.fetchOne(db, sql: "SELECT value FROM _p2pdb_meta WHERE key = 'network'") else { return nil }
        guard let raw = value.storage.blobBytes.flatMap(Bytes32.init) else {
            throw P2PDBError(.corrupt, "the replica's network ID in _p2pdb_meta is malformed")
        }
        return NetworkID(raw)
    }

    /// Makes the replica a member of `network` if it is new, or checks that
    /// it is the one the replica belongs to. A replica that holds entries of
    /// an open network cannot join one: its authors have no credentials.
    static func adopt(_ network: NetworkID, _ db: Database, state: inout ReplicaState) throws {
        if let current = state.membership?.network {
            guard current == network else {
                throw P2PDBError(
                    .invalidInput,
                    "this replica belongs to private network \(current.short), not \(network.short); give it that network's descriptor, or start a new data directory")
            }
            return
        }
        guard state.entryCount == 0 else {
            throw P2PDBError(
                .invalidInput,
                "this replica already holds \(state.entryCount) entries written in open mode; a private network starts from an empty data directory: `p2pdb init` a new one for this node")
        }
        try db.execute(sql: "INSERT INTO _p2pdb_meta(key, value) VALUES ('network', ?)", arguments: [network.raw.bytes.databaseBlob])
        state.membership = NetworkMembership(network: network)
    }

    /// Takes in the credential an accepted entry carries.
    static func record(_ entry: Entry, _ db: Database, state: inout ReplicaState) throws {
        guard let credential = entry.payload.credential, state.membership != nil else { return }
        state.membership?.record(entry)
        try db.execute(
            sql: "INSERT OR REPLACE INTO _p2pdb_members(node_id, credential) VALUES (?, ?)",
            arguments: [entry.author.raw.bytes.databaseBlob, credential.bytes.databaseBlob])
    }
}
