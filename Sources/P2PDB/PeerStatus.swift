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
    /// Why the last attempt to open a session at this address failed, in
    /// words (connection refused, timed out, not a P2PDB peer, a TLS
    /// failure, a refusal and its reason); nil if none has. It stays after
    /// a later success: `lastErrorAt` and `lastContact` tell which is newer.
    public var lastError: String?
    /// When `lastError` happened, in milliseconds since 1970.
    public var lastErrorAt: Int64?
    /// When the peer was last heard from (any message, its Hello
    /// included), in milliseconds since 1970; nil if never.
    public var lastContact: Int64?
    /// The last round trip measured to the peer (a Ping answered by its
    /// Pong, through both nodes' queues), in whole milliseconds; nil until
    /// one is measured, or for a peer that does not answer pings.
    public var roundTripMilliseconds: UInt64?

    public init(
        nodeID: NodeID?, address: String, connected: Bool, source: Source, entriesBehind: UInt64, entriesAhead: UInt64,
        lastError: String? = nil, lastErrorAt: Int64? = nil, lastContact: Int64? = nil, roundTripMilliseconds: UInt64? = nil
    ) {
        self.nodeID = nodeID
        self.address = address
        self.connected = connected
        self.source = source
        self.entriesBehind = entriesBehind
        self.entriesAhead = entriesAhead
        self.lastError = lastError
        self.lastErrorAt = lastErrorAt
        self.lastContact = lastContact
        self.roundTripMilliseconds = roundTripMilliseconds
    }
}

/// How far a node stands from its established peers, by the version
/// vectors last exchanged: what `/readyz` decides from.
public struct CatchUpStatus: Sendable, Equatable {
    /// Entries that some established peer holds and this node lacks,
    /// counted once however many peers hold them.
    public var entriesBehind: UInt64
    /// Established peer sessions.
    public var peers: Int
    /// Established peers whose version vector has not arrived yet: until it
    /// does, nothing tells whether they are ahead.
    public var awaitingVector: Int

    public init(entriesBehind: UInt64, peers: Int, awaitingVector: Int) {
        self.entriesBehind = entriesBehind
        self.peers = peers
        self.awaitingVector = awaitingVector
    }
}

/// Anything that can report the peers of a node: the sync engine, or
/// nothing at all for a node that runs alone.
public protocol PeerStatusProvider: Sendable {
    func peers() async -> [PeerStatus]
    /// How far the node stands from its established peers.
    func catchUpStatus() async -> CatchUpStatus
}
