import P2PDBCore

/// What a node knows of one peer, as `/v1/status` lists it.
public struct PeerStatus: Sendable, Equatable {
    /// How the node learned of a peer.
    public enum Source: String, Sendable {
        /// A `--join` address.
        case seed
        /// Another peer told us of it (peer exchange).
        case exchange
        /// Found on the LAN by mDNS/DNS-SD.
        case mdns
        /// It connected to us.
        case inbound
    }

    public var nodeID: NodeID?
    public var address: String
    public var connected: Bool
    public var source: Source
    /// Entries the peer holds that this node lacks, by version vectors.
    public var entriesBehind: UInt64
    /// Entries this node holds that the peer lacks.
    public var entriesAhead: UInt64

    public init(nodeID: NodeID?, address: String, connected: Bool, source: Source, entriesBehind: UInt64, entriesAhead: UInt64) {
        self.nodeID = nodeID
        self.address = address
        self.connected = connected
        self.source = source
        self.entriesBehind = entriesBehind
        self.entriesAhead = entriesAhead
    }
}

/// Anything that can report the peers of a node: the sync engine, or
/// nothing at all for a node that runs alone.
public protocol PeerStatusProvider: Sendable {
    func peers() async -> [PeerStatus]
}
