import P2PDB

/// How a node replicates with its peers.
public struct SyncConfiguration: Sendable {
    /// Seed addresses (`--join`), dialed at start and whenever disconnected.
    public var seeds: [String]
    /// How many peers a new entry is pushed to at once.
    public var fanout: Int
    /// The most peers held at once, inbound and outbound together.
    public var maximumPeers: Int
    /// How often each peer is sent a summary (anti-entropy), in ms.
    public var antiEntropyInterval: UInt64
    /// How often peers exchange addresses, in ms.
    public var peerExchangeInterval: UInt64
    /// A peer heard from for this long is considered dead, in ms.
    public var deadPeerTimeout: UInt64
    /// A pull whose reply makes no progress for this long is asked again, in ms.
    public var pullTimeout: UInt64
    /// Reconnection backoff: the first delay and the ceiling, in ms.
    public var minimumBackoff: UInt64
    public var maximumBackoff: UInt64
    /// How often the engine's timer runs, in ms.
    public var tickInterval: UInt64
    /// An address that keeps failing for the same reason is warned about
    /// once per this interval, in ms; the retries between are logged at
    /// the debug level.
    public var failureWarningInterval: UInt64
    /// While the node catches up with its peers, its progress is logged at
    /// most once per this interval, in ms.
    public var progressInterval: UInt64
    /// The private network this node keeps to: only peers with a valid
    /// credential for it are let in, and only such peers are talked to.
    /// Nil for open mode.
    public var network: NetworkDescriptor?
    /// This node's credential in `network`, shown to every peer.
    public var credential: Credential?
    /// Whose time decides whether a peer's credential has expired, and
    /// turns the engine's clock into the wall times of peer status.
    public var wallClock: any WallClock

    public init(
        seeds: [String] = [], fanout: Int = 4, maximumPeers: Int = 32, antiEntropyInterval: UInt64 = 1000,
        peerExchangeInterval: UInt64 = 5000, deadPeerTimeout: UInt64 = 15_000, pullTimeout: UInt64 = 10_000, minimumBackoff: UInt64 = 250,
        maximumBackoff: UInt64 = 30_000, tickInterval: UInt64 = 100, failureWarningInterval: UInt64 = 600_000,
        progressInterval: UInt64 = 5000,
        network: NetworkDescriptor? = nil, credential: Credential? = nil, wallClock: any WallClock = SystemClock()
    ) {
        self.seeds = seeds
        self.fanout = fanout
        self.maximumPeers = maximumPeers
        self.antiEntropyInterval = antiEntropyInterval
        self.peerExchangeInterval = peerExchangeInterval
        self.deadPeerTimeout = deadPeerTimeout
        self.pullTimeout = pullTimeout
        self.minimumBackoff = minimumBackoff
        self.maximumBackoff = maximumBackoff
        self.tickInterval = tickInterval
        self.failureWarningInterval = failureWarningInterval
        self.progressInterval = progressInterval
        self.network = network
        self.credential = credential
        self.wallClock = wallClock
    }
}
