import P2PDB

/// What peers say to each other. The wire encoding is the transport's (the
/// gRPC transport maps each case to a protobuf frame); the meaning is here.
///
/// A session opens with one ``Hello`` each way. Then:
/// - `summary` tells what a node holds (version vector and heads);
/// - `pull` asks for every entry not covered by a vector, answered by
///   pages of `entries` in causal order and a final `pullDone`;
/// - `entries` also carries pushes of new entries (gossip);
/// - `want` asks for particular entries (missing parents, unknown heads);
/// - `peers` shares addresses of other nodes (peer exchange);
/// - `refusal` says why the sender is about to close the connection;
/// - `ping` asks for a `pong` with the same nonce: the round trip.
public enum SyncMessage: Sendable, Equatable {
    case hello(Hello)
    case summary(versionVector: VersionVector, heads: [EntryID])
    case pull(have: VersionVector)
    case entries([[UInt8]])
    case pullDone
    case want([EntryID])
    case peers([PeerAddress])
    case refusal(String)
    case ping(nonce: UInt64)
    case pong(nonce: UInt64)

    /// An estimate of the encoded size, for metrics and page sizes.
    public var approximateSize: Int {
        switch self {
        case .hello(let hello):
            return 84 + (hello.listenAddress?.utf8.count ?? 0) + (hello.credential?.count ?? 0) + hello.features.reduce(0) { $0 + $1.utf8.count + 2 }
        case .summary(let vector, let heads): return 8 + vector.counts.count * 42 + heads.count * 34
        case .pull(let vector): return 4 + vector.counts.count * 42
        case .entries(let bodies): return 4 + bodies.reduce(0) { $0 + $1.count + 4 }
        case .pullDone: return 2
        case .want(let ids): return 4 + ids.count * 34
        case .peers(let peers): return 4 + peers.reduce(0) { $0 + 40 + $1.address.utf8.count }
        case .refusal(let reason): return 4 + reason.utf8.count
        case .ping, .pong: return 12
        }
    }

    var name: String {
        switch self {
        case .hello: return "hello"
        case .summary: return "summary"
        case .pull: return "pull"
        case .entries: return "entries"
        case .pullDone: return "pull_done"
        case .want: return "want"
        case .peers: return "peers"
        case .refusal: return "refusal"
        case .ping: return "ping"
        case .pong: return "pong"
        }
    }
}

/// The first message of a session each way.
public struct Hello: Sendable, Equatable {
    /// The newest protocol this build speaks. Two nodes speak the older of
    /// their two versions; a newer build keeps speaking every version down
    /// to ``minimumProtocolVersion``, so mixed builds keep replicating during
    /// a rolling upgrade. Additions that older nodes can do without go in
    /// `features` instead, and are used only with peers that name them.
    public static let currentProtocolVersion: UInt32 = 1
    /// The oldest protocol this build still speaks; an older peer is refused
    /// with a log line naming both versions.
    public static let minimumProtocolVersion: UInt32 = 1
    public static let supportedFeatures: [String] = [Feature.want, Feature.peerExchange, Feature.ping]

    /// Optional parts of the protocol.
    public enum Feature {
        /// Asking for entries by ID (missing parents, unknown heads).
        public static let want = "want-v1"
        /// Sharing the addresses of known peers.
        public static let peerExchange = "peer-exchange-v1"
        /// Ping and Pong, which measure the round trip to a peer.
        public static let ping = "ping-v1"
    }

    public var protocolVersion: UInt32
    public var features: [String]
    public var nodeID: NodeID
    /// Where the sender accepts peer connections, if it does.
    public var listenAddress: String?
    /// The private network the sender keeps to; nil in open mode.
    public var network: NetworkID?
    /// The sender's credential in that network, as its bytes (decoded and
    /// checked by the receiver).
    public var credential: [UInt8]?

    public init(
        protocolVersion: UInt32 = Hello.currentProtocolVersion, features: [String] = Hello.supportedFeatures, nodeID: NodeID, listenAddress: String?,
        network: NetworkID? = nil, credential: [UInt8]? = nil
    ) {
        self.protocolVersion = protocolVersion
        self.features = features
        self.nodeID = nodeID
        self.listenAddress = listenAddress
        self.network = network
        self.credential = credential
    }
}

/// A node and where to reach it, as peer exchange shares it.
public struct PeerAddress: Sendable, Hashable {
    public var nodeID: NodeID
    public var address: String

    public init(nodeID: NodeID, address: String) {
        self.nodeID = nodeID
        self.address = address
    }
}

/// Bounds on what a peer may send in one message; anything larger is a
/// protocol violation and ends the session.
public enum SyncLimits {
    public static let maximumEntriesPerMessage = 4096
    public static let maximumIDsPerMessage = 4096
    public static let maximumPeersPerMessage = 256
    /// A peer's reason for refusing this node is logged up to this length.
    public static let maximumRefusalCharacters = 500
    public static let maximumVectorSize = 100_000
    /// The transport refuses frames above this size.
    public static let maximumMessageBytes = 16 << 20
    /// Pages of a pull reply are cut at this size or entry count.
    public static let pageBytes = 1 << 20
    public static let pageEntries = 512
}
