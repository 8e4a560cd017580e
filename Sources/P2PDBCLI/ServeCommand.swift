import ArgumentParser
import Foundation
import Logging
import P2PDB
import P2PDBDiscovery
import P2PDBPeerGRPC
import P2PDBServer
import P2PDBSync
import ServiceLifecycle

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the node: the HTTP/JSON API, the live change feed, metrics and peer replication.",
        discussion: """
            Initialises the data directory on first run. Every endpoint except GET /healthz needs \
            Authorization: Bearer <token>; the token is --api-token or the one stored in the data \
            directory (print it with `p2pdb token --data DIR`). SIGINT and SIGTERM stop the node \
            gracefully: requests in flight finish, new ones get 503, nothing acknowledged is lost.

            With --listen the node accepts peers (gRPC over mutually authenticated TLS); --join dials \
            others. Without either it runs alone and still serves every read and write.
            """)

    @OptionGroup var data: DataOption

    @Option(help: ArgumentHelp("Where the HTTP API listens (port 0 picks a free one).", valueName: "host:port"))
    var http = "127.0.0.1:\(ServerConfiguration.defaultPort)"

    @Option(help: ArgumentHelp("The API token (default: the one stored in the data directory).", valueName: "token"))
    var apiToken: String?

    @Option(help: ArgumentHelp("The largest request body accepted, in bytes.", valueName: "bytes"))
    var maxBody = ServerConfiguration.defaultMaximumBodySize

    @Option(help: ArgumentHelp("The largest bundle POST /v1/bundle (and `p2pdb import`) accepts, in bytes.", valueName: "bytes"))
    var maxBundle = ServerConfiguration.defaultMaximumBundleSize

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @Option(help: ArgumentHelp(
        "How long one SQL request may run before it is stopped, in seconds; 0 for no limit.", valueName: "seconds"))
    var statementTimeout: Double = 30

    @Option(help: ArgumentHelp("Where to accept peer connections.", valueName: "host:port"))
    var listen: String?

    @Option(help: ArgumentHelp("A peer to connect to; repeat for several.", valueName: "host:port"))
    var join: [String] = []

    @Option(help: ArgumentHelp("The peer address others should dial, if not the --listen one.", valueName: "host:port"))
    var advertise: String?

    @Flag(inversion: .prefixedNo, help: "Find and announce peers on the LAN with mDNS/DNS-SD (_p2pdb._tcp); off by default.")
    var mdns = false

    @Option(help: "How many peers each new entry is pushed to.")
    var fanout = 4

    @Option(help: "The most peers to hold at once.")
    var maxPeers = 32

    @Option(help: ArgumentHelp("How often to compare logs with each peer, in milliseconds.", valueName: "ms"))
    var antiEntropyInterval: UInt64 = 1000

    func run() async throws {
        try await reportingErrors {
            guard let level = Logger.Level(rawValue: logLevel) else {
                throw P2PDBError(.invalidInput, "--log-level must be one of trace, debug, info, notice, warning, error, critical")
            }
            let (host, port) = try ServerConfiguration.parseAddress(http)
            guard maxBody > 0, maxBundle > 0 else { throw P2PDBError(.invalidInput, "--max-body and --max-bundle must be positive") }
            if let apiToken, apiToken.count < 16 {
                throw P2PDBError(.invalidInput, "--api-token must be at least 16 characters")
            }
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
            let logger = Logger(label: "p2pdb")
            let directory = data.directory
            guard statementTimeout >= 0, statementTimeout.isFinite else {
                throw P2PDBError(.invalidInput, "--statement-timeout must be 0 (no limit) or a positive number of seconds")
            }
            var limits = StatementLimits()
            limits.timeout = statementTimeout == 0 ? nil : .milliseconds(Int64(statementTimeout * 1000))
            let node = try Node.open(directory, createIfNeeded: true, options: StoreOptions(limits: limits))
            let configuration = ServerConfiguration(
                host: host, port: port, apiToken: try apiToken ?? directory.apiToken(), maximumBodySize: maxBody,
                maximumBundleSize: maxBundle)
            logger.info("node \(node.nodeID.hex) serving \(directory.path)")
            let metrics = NodeMetrics()
            var services: [any Service] = []
            var peers: (any PeerStatusProvider)?
            if mdns && listen == nil {
                throw P2PDBError(.invalidInput, "--mdns announces the peer endpoint: pass --listen IP:PORT too")
            }
            if listen != nil || !join.isEmpty {
                let engine = try makeSyncEngine(node: node, key: try directory.loadKey(), metrics: metrics, logger: logger)
                services.append(CancellableService { try await engine.run() })
                peers = engine
                if mdns, let announced = advertise ?? listen {
                    let discovery = try MDNSDiscovery(nodeID: node.nodeID, advertise: announced, logger: logger) { address, nodeID in
                        await engine.discovered(address, nodeID: nodeID)
                    }
                    services.append(CancellableService { try await discovery.run() })
                }
            }
            let announcedHost = host == "0.0.0.0" || host == "::" ? "127.0.0.1" : host
            let server = NodeServer(
                node: node, configuration: configuration, metrics: metrics, services: services, peers: peers,
                handleSignals: true, logger: logger,
                onListening: { port in
                    let url = announcedHost.contains(":") ? "http://[\(announcedHost)]:\(port)" : "http://\(announcedHost):\(port)"
                    do {
                        try ServeInfo(url: url, pid: getpid(), token: configuration.apiToken).write(directory)
                    } catch {
                        logger.warning("\(error)")
                    }
                })
            defer { ServeInfo.remove(directory) }
            do {
                try await server.run()
            } catch {
                throw P2PDBError(.unavailable, "the node stopped: \(error)")
            }
            logger.info("stopped")
        }
    }
}

extension ServeCommand {
    private func makeSyncEngine(node: Node, key: NodeKey, metrics: NodeMetrics, logger: Logger) throws -> SyncEngine {
        guard fanout > 0, maxPeers > 0, antiEntropyInterval > 0 else {
            throw P2PDBError(.invalidInput, "--fanout, --max-peers and --anti-entropy-interval must be positive")
        }
        var bind: (host: String, port: Int)?
        if let listen { bind = try ServerConfiguration.parseAddress(listen) }
        for address in join { _ = try ServerConfiguration.parseAddress(address) }
        let transport = try GRPCPeerTransport(key: key, listen: bind, advertise: advertise, logger: logger)
        let configuration = SyncConfiguration(
            seeds: join, fanout: fanout, maximumPeers: maxPeers, antiEntropyInterval: antiEntropyInterval)
        return SyncEngine(node: node, transport: transport, configuration: configuration, metricsFactory: metrics.factory, logger: logger)
    }
}

/// Runs work that lasts until cancelled (the sync engine, mDNS) as a
/// service: cancelled at graceful shutdown, before the replica closes.
struct CancellableService: Service {
    let work: @Sendable () async throws -> Void

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await work() }
        } catch where Task.isShuttingDownGracefully || Task.isCancelled {
            // Stopped for shutdown.
        }
    }
}

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Print the HTTP API token stored in the data directory.")

    @OptionGroup var data: DataOption

    func run() async throws {
        try await reportingErrors { print(try data.directory.apiToken()) }
    }
}
