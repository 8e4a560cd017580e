import Logging
import Metrics
import P2PDB
import P2PDBDiscovery
import P2PDBPeerGRPC
import P2PDBSync

/// A node's replication, ready to run: the sync engine on a bound gRPC peer
/// endpoint, and mDNS discovery when asked for. `p2pdb serve` and
/// ``P2PDB/Node/startSync(_:logger:)`` both build it here.
public struct Replication: Sendable {
    public let engine: SyncEngine
    let discovery: MDNSDiscovery?

    /// Binds the peer endpoint (an address that cannot be bound fails here,
    /// with the reason) and builds the engine for `node`, with the private
    /// network its data directory keeps, if any.
    public static func prepare(
        node: Node, options: SyncOptions, metricsFactory: (any MetricsFactory)? = nil, logger: Logger
    ) async throws -> Replication {
        try options.check()
        let bind = try options.listen.map(NetworkAddress.parse)
        let key = try node.directory.loadKey()
        let transport = try GRPCPeerTransport(key: key, listen: bind, advertise: options.advertise, logger: logger)
        do {
            try await transport.bind()
        } catch {
            throw P2PDBError(.unavailable, error.description)
        }
        let configuration = SyncConfiguration(
            seeds: options.join, fanout: options.fanout, maximumPeers: options.maximumPeers, antiEntropyInterval: options.antiEntropyInterval,
            network: try node.directory.networkDescriptor(), credential: try node.directory.credential())
        let engine = SyncEngine(node: node, transport: transport, configuration: configuration, metricsFactory: metricsFactory, logger: logger)
        var discovery: MDNSDiscovery?
        if options.mdns, let announced = options.advertise ?? options.listen {
            discovery = try MDNSDiscovery(nodeID: node.nodeID, advertise: announced, logger: logger) { address, nodeID in
                await engine.discovered(address, nodeID: nodeID)
            }
        }
        return Replication(engine: engine, discovery: discovery)
    }

    /// Replicates until cancelled.
    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await engine.run() }
            if let discovery { group.addTask { try await discovery.run() } }
            try await group.next()
            group.cancelAll()
        }
    }
}
