import P2PDBCore

/// The replica's counters as of the last commit; what `status` prints.
public struct ReplicaSummary: Sendable, Equatable {
    public var nodeID: NodeID
    public var entryCount: Int64
    public var heads: [EntryID]
    public var lamport: UInt64
    public var stateHash: StateHash
    public var versionVector: VersionVector
    public var lastPosition: Int64
    public var tableCount: Int
    /// True while local writes wait for this node's own earlier entries
    /// (its replica was created anew for an existing key).
    public var awaitingOwnHistory: Bool
    /// The merged schema.
    public var schema: ReplicatedSchema
    /// The private network the replica belongs to and its members; nil in
    /// open mode.
    public var membership: NetworkMembership?
    public var network: NetworkID? { membership?.network }
    /// This node's role there, as the log gives it: by grants, or by the
    /// credential its first entry carried (nil before that, or if revoked).
    public var role: NetworkRole? { membership?.role(of: nodeID) }

    init(_ state: ReplicaState) {
        nodeID = state.selfID
        entryCount = state.entryCount
        heads = state.heads.sorted()
        lamport = state.lamport
        stateHash = state.stateHash
        versionVector = state.authors.versionVector
        lastPosition = state.lastPosition
        tableCount = state.schema.tables.count
        awaitingOwnHistory = state.ownHistory != .complete
        schema = state.schema
        membership = state.membership
    }
}

/// Evidence that an author signed two different entries with the same
/// sequence number.
public struct Equivocation: Sendable, Equatable {
    public var author: NodeID
    public var seq: UInt64
    public var entries: [EntryID]
}
