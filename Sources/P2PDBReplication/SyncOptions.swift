import P2PDB

/// How a node replicates: where it accepts peers, whom it dials, whether it
/// finds peers on the LAN. The flags of `p2pdb serve` of the same names.
///
/// ```swift
/// try await node.startSync(SyncOptions(listen: "0.0.0.0:7071", join: ["192.168.1.20:7071"], mdns: true))
/// ```
///
/// A private network is not an option here: it belongs to the data
/// directory, and the replica keeps to it from the moment it opens. Join it
/// before opening the node (`DataDirectory.join(_:credential:node:now:)`,
/// or `p2pdb serve --network F --credential F` once).
public struct SyncOptions: Sendable {
    /// Where to accept peer connections (`host:port`; port 0 picks one);
    /// nil to only dial out.
    public var listen: String?
    /// Peers to dial (`host:port`).
    public var join: [String]
    /// The address others should dial, if not `listen`.
    public var advertise: String?
    /// Find and announce peers on the LAN with mDNS/DNS-SD; needs `listen`,
    /// and `listen` or `advertise` on a concrete IPv4 address.
    public var mdns: Bool
    /// How many peers each new entry is pushed to.
    public var fanout: Int
    /// The most peers held at once.
    public var maximumPeers: Int
    /// How often logs are compared with each peer, in milliseconds.
    public var antiEntropyInterval: UInt64

    public init(
        listen: String? = nil, join: [String] = [], advertise: String? = nil, mdns: Bool = false, fanout: Int = 4, maximumPeers: Int = 32,
        antiEntropyInterval: UInt64 = 1000
    ) {
        self.listen = listen
        self.join = join
        self.advertise = advertise
        self.mdns = mdns
        self.fanout = fanout
        self.maximumPeers = maximumPeers
        self.antiEntropyInterval = antiEntropyInterval
    }

    /// Fails on values that cannot work, before anything is opened: what
    /// `p2pdb serve` checks before it starts, replicating or not.
    public func checkValues() throws(P2PDBError) {
        guard fanout > 0, maximumPeers > 0, antiEntropyInterval > 0 else {
            throw P2PDBError(.invalidInput, "the fanout, the peer limit and the anti-entropy interval must be positive")
        }
        if let listen { _ = try NetworkAddress.parse(listen) }
        for address in join { _ = try NetworkAddress.parse(address) }
        if mdns && listen == nil {
            throw P2PDBError(.invalidInput, "mDNS announces the peer endpoint: give an address to listen on too")
        }
    }

    /// ``checkValues()``, and something to replicate with.
    func check() throws(P2PDBError) {
        try checkValues()
        guard listen != nil || !join.isEmpty else {
            throw P2PDBError(.invalidInput, "replication needs an address to listen on or a peer to join")
        }
    }
}
