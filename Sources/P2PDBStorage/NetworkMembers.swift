import GRDB
import P2PDBCore

/// Where a replica keeps its private network: the network's ID in
/// `_p2pdb_meta` (a replica belongs to one network for life), the
/// credential each author's history carries in `_p2pdb_members`, and each
/// entry's ``FactVector`` (where not empty) in `_p2pdb_fact_vectors`. All
/// but the ID are derived from the log, like every other internal table.
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
        var membership = NetworkMembership(network: network, credentials: credentials)
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT e.body, v.vector FROM _p2pdb_fact_vectors v JOIN _p2pdb_entries e ON e.id = v.id
                WHERE v.carries_facts ORDER BY e.position
                """)
        for row in rows {
            guard let body = (row[0] as DatabaseValue).storage.blobBytes, let vectorBytes = (row[1] as DatabaseValue).storage.blobBytes,
                let entry = try? Entry(bytes: body, verifySignature: false), let vector = try? FactVector(bytes: vectorBytes)
            else {
                throw P2PDBError(.corrupt, "_p2pdb_fact_vectors names a malformed entry or vector; run `p2pdb verify`")
            }
            membership.restoreFacts(of: entry, vector: vector)
        }
        return membership
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

    /// The grants and revocations in the past of an entry with `parents`:
    /// the largest of the parents' vectors; empty in open mode, which keeps
    /// none.
    static func past(of parents: some Sequence<EntryID>, _ db: Database, state: ReplicaState) throws -> FactVector {
        var past = FactVector()
        guard state.membership != nil else { return past }
        let statement = try db.cachedStatement(sql: "SELECT vector FROM _p2pdb_fact_vectors WHERE id = ?")
        for parent in parents {
            statement.setUncheckedArguments([parent.raw.bytes.databaseBlob])
            guard let bytes = try DatabaseValue.fetchOne(statement)?.storage.blobBytes else { continue }
            do {
                past.merge(try FactVector(bytes: bytes))
            } catch {
                throw P2PDBError(.corrupt, "_p2pdb_fact_vectors holds a malformed vector; run `p2pdb verify`")
            }
        }
        return past
    }

    /// Takes in what an accepted entry says about members; `past` is the
    /// vector of its parents (``past(of:_:state:)``).
    static func record(_ entry: Entry, past: FactVector, _ db: Database, state: inout ReplicaState) throws {
        guard let vector = state.membership?.record(entry, past: past) else { return }
        if let credential = entry.payload.credential {
            try db.execute(
                sql: "INSERT OR REPLACE INTO _p2pdb_members(node_id, credential) VALUES (?, ?)",
                arguments: [entry.author.raw.bytes.databaseBlob, credential.bytes.databaseBlob])
        }
        guard !vector.isEmpty else { return }
        let carriesFacts = entry.payload.membership.contains(where: \.isAdministrative)
        try db.execute(
            sql: "INSERT OR REPLACE INTO _p2pdb_fact_vectors(id, vector, carries_facts) VALUES (?, ?, ?)",
            arguments: [entry.id.raw.bytes.databaseBlob, vector.bytes.databaseBlob, carriesFacts])
    }
}
