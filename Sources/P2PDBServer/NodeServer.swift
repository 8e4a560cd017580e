import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import P2PDB
import ServiceLifecycle
import Synchronization

/// A node run as a service: its HTTP API, its change feed, its metrics, and
/// whatever other services (peer sync) are handed in, under one
/// ServiceLifecycle group.
///
/// ```swift
/// let node = try Node.open(directory, createIfNeeded: true)
/// let server = NodeServer(node: node, configuration: ServerConfiguration(apiToken: try directory.apiToken()), logger: logger)
/// try await server.run()     // until SIGINT or SIGTERM
/// ```
///
/// Shutdown runs in this order: new requests get 503 and change feeds end;
/// the HTTP server finishes the requests in flight; the extra services stop;
/// the replica finishes its queued writes and closes. Nothing acknowledged
/// is lost, and nothing is acknowledged that is not durable.
public final class NodeServer: Sendable {
    public let node: Node
    public let configuration: ServerConfiguration
    public let metrics: NodeMetrics
    private let gate = ShutdownGate()
    private let group: ServiceGroup

    /// - Parameters:
    ///   - services: more services to run beside the API, stopped before
    ///     the replica closes (the peer sync engine).
    ///   - peers: what `/v1/status` reports under `peers`.
    ///   - onListening: called with the bound port once the API listens.
    ///   - handleSignals: stop gracefully on SIGINT and SIGTERM (the
    ///     `p2pdb serve` process); tests stop the server with ``shutdown()``.
    public init(
        node: Node, configuration: ServerConfiguration, metrics: NodeMetrics = NodeMetrics(),
        services: [any Service] = [], peers: (any PeerStatusProvider)? = nil, handleSignals: Bool = false,
        logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        self.node = node
        self.configuration = configuration
        self.metrics = metrics
        let routes = APIRoutes(node: node, configuration: configuration, metrics: metrics, gate: gate, peers: peers)
        let host = configuration.host
        let listening = ListeningFlag()
        let connections = ConcurrencyLimit(maximum: configuration.maximumConnections)
        let application = Application(
            router: routes.router(),
            server: .http1(
                configuration: HTTP1Channel.Configuration(
                    additionalChannelHandlers: [ConnectionLimitHandler(limit: connections)],
                    idleTimeout: TimeAmount(configuration.idleTimeout))),
            configuration: ApplicationConfiguration(
                address: .hostname(host, port: configuration.port), serverName: "p2pdb", reuseAddress: true),
            onServerRunning: { channel in
                listening.set()
                let port = channel.localAddress?.port ?? configuration.port
                logger.info("HTTP API listening on http://\(host):\(port)", metadata: ["node": "\(node.nodeID.short)"])
                await onListening(port)
            },
            logger: logger)
        var configured: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: ReplicaService(node: node, metrics: metrics, logger: logger))
        ]
        configured += services.map { .init(service: $0) }
        configured.append(.init(service: HTTPService(application: application, listening: listening, configuration: configuration)))
        configured.append(.init(service: GateService(gate: gate, logger: logger)))
        var groupConfiguration = ServiceGroupConfiguration(
            services: configured, gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [], logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(30)
        group = ServiceGroup(configuration: groupConfiguration)
    }

    /// Runs until shut down by a signal or by ``shutdown()``.
    public func run() async throws { try await group.run() }

    /// Starts a graceful shutdown; ``run()`` returns once it is complete.
    public func shutdown() async { await group.triggerGracefulShutdown() }
}

/// Owns the replica for the lifetime of the group: counts applied entries
/// for the metrics, and closes the replica last, after every writer stopped.
private struct ReplicaService: Service {
    let node: Node
    let metrics: NodeMetrics
    let logger: Logger

    func run() async throws {
        let store = node.store
        let metrics = self.metrics
        let nodeID = node.nodeID
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // A subscriber that falls behind is dropped: subscribe again.
                while !Task.isCancelled {
                    for await batch in store.changeBatches() {
                        for applied in batch { metrics.recordApplied(applied, localNode: nodeID) }
                    }
                }
            }
            try? await gracefulShutdown()
            logger.info("closing the replica")
            try await node.close()
            group.cancelAll()
        }
        logger.info("replica closed")
    }
}

/// The HTTP server, whose failure to bind its address is told as such: a
/// port in use, an address not of this machine.
private struct HTTPService: Service {
    let application: any Service
    let listening: ListeningFlag
    let configuration: ServerConfiguration

    func run() async throws {
        do {
            try await application.run()
        } catch where !listening.isSet {
            let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
            let address = "\(host):\(configuration.port)"
            guard let number = (error as? IOError)?.errnoCode else {
                throw ListenFailure(purpose: "HTTP requests", address: address, reason: "\(error)")
            }
            throw ListenFailure(purpose: "HTTP requests", address: address, option: "--http", errno: number)
        }
    }
}

/// Whether the HTTP server got as far as listening.
private final class ListeningFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .relaxed) }
    func set() { value.store(true, ordering: .relaxed) }
}

/// The first service to hear of a shutdown: from then on new requests get
/// 503 and open change feeds end.
private struct GateService: Service {
    let gate: ShutdownGate
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        logger.info("shutting down: refusing new requests")
        gate.close()
    }
}
