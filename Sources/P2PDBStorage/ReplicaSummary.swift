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

    init(_ state: ReplicaState) {
        nodeID = state.selfID
        entryCount = state.entryCount
        heads = state.heads.sorted()
        lamport = state.lamport
        stateHash = state.stateHash
        versionVector = state.authors.versionVector
        lastPosition = state.lastPosition
        tableCount = state.schema.tables.count
    }
}

/// Evidence that an author signed two different entries with the same
/// sequence number.
public struct Equivocation: Sendable, Equatable {
    public var author: NodeID
    public var seq: UInt64
    public var entries: [EntryID]
}
