import ArgumentParser
import Foundation
import Logging
import P2PDB
import P2PDBReplication
import P2PDBServer
import P2PDBSync
import ServiceLifecycle

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the node: the HTTP/JSON API, the live change feed, metrics and peer replication.",
        discussion: """
            Initialises the data directory on first run. Every endpoint except GET /healthz and GET /readyz needs \
            Authorization: Bearer <token>; the node's own token is --api-token, --api-token-file, P2PDB_API_TOKEN or the one stored in the data \
            directory (print it with `p2pdb token --data DIR`), and has the admin role. --api-tokens adds tokens with \
            other roles: read-only (GET requests, and SQL whose every statement reads), read-write (writes and bundle \
            imports too), admin (everything). SIGINT and SIGTERM stop the node \
            gracefully: requests in flight finish, new ones get 503, nothing acknowledged is lost.

            With --listen the node accepts peers (gRPC over mutually authenticated TLS); --join dials \
            others. Without either it runs alone and still serves every read and write.
            """)

    @OptionGroup var data: DataOption

    @Option(help: ArgumentHelp("Where the HTTP API listens (port 0 picks a free one).", valueName: "host:port"))
    var http = "127.0.0.1:\(ServerConfiguration.defaultPort)"

    @Option(help: ArgumentHelp(
        "The API token. Other users see it in `ps`: prefer --api-token-file or P2PDB_API_TOKEN. Default: the one stored in the data directory.",
        valueName: "token"))
    var apiToken: String?

    @Option(help: ArgumentHelp("A file holding the API token (its first line).", valueName: "path"))
    var apiTokenFile: String?

    @Option(help: ArgumentHelp(
        "A file of more API tokens, one `ROLE TOKEN` a line (roles: read-only, read-write, admin; # starts a comment line; tokens of 16 characters or more), mode 0600. Default: $P2PDB_API_TOKENS_FILE.",
        valueName: "path"))
    var apiTokens: String?

    @Option(help: ArgumentHelp("HTTP connections open at once; more are answered 503.", valueName: "n"))
    var maxConnections = 512

    @Option(help: ArgumentHelp(
        "Seconds a connection may stay idle, or take to send a request head, before it is closed.", valueName: "seconds"))
    var idleTimeout: Double = 30

    @Option(help: ArgumentHelp("GET /v1/changes streams open at once; more are answered 503.", valueName: "n"))
    var maxChangeSubscribers = 128

    @Option(help: ArgumentHelp("SQL reads that run at once, each on a connection and thread of its own.", valueName: "n"))
    var readConnections = 4

    @Option(help: ArgumentHelp(
        "Temporary disk one SQL request may fill (sorts, DISTINCT, GROUP BY that outgrow memory), in MiB.", valueName: "MiB"))
    var maxTempDisk = 256

    @Option(name: .customLong("max-sqlite-memory"), help: ArgumentHelp(
        "Memory SQLite may take in all, over every connection; a request past it fails with 503, in MiB.", valueName: "MiB"))
    var maxSQLiteMemory = 1024

    @Option(help: ArgumentHelp("The largest request body accepted, in bytes.", valueName: "bytes"))
    var maxBody = ServerConfiguration.defaultMaximumBodySize

    @Option(help: ArgumentHelp("The largest bundle POST /v1/bundle (and `p2pdb import`) accepts, in bytes.", valueName: "bytes"))
    var maxBundle = ServerConfiguration.defaultMaximumBundleSize

    @Option(help: ArgumentHelp(
        "The web origin whose pages may call the API from a browser (CORS), e.g. https://office.example, or * for any. Default: none.",
        valueName: "origin"))
    var corsOrigin: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @Option(help: ArgumentHelp(
        "How log lines are written on standard error: text, or json (one object a line).", valueName: "format"))
    var logFormat: LogFormat = .text

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

    @Option(help: ArgumentHelp(
        "Keep to this private network: the descriptor `p2pdb network create` printed. Kept in the data directory, so later starts need not repeat it.",
        valueName: "network-file"))
    var network: String?

    @Option(help: ArgumentHelp(
        "This node's credential in the network (from `p2pdb network admit`); kept in the data directory. Give a new one to renew it.",
        valueName: "credential-file"))
    var credential: String?

    @Option(help: "How many peers each new entry is pushed to.")
    var fanout = 4

    @Option(help: "The most peers to hold at once.")
    var maxPeers = 32

    @Option(help: ArgumentHelp("How often to compare logs with each peer, in milliseconds.", valueName: "ms"))
    var antiEntropyInterval: UInt64 = 1000

    @Option(help: ArgumentHelp(
        "A JSON file of settings whose keys are the long flags, e.g. {\"http\": \"127.0.0.1:7070\", \"join\": [\"10.0.0.2:7071\"]}. Default: $P2PDB_CONFIG. Every flag also comes from the environment as P2PDB_<FLAG>, e.g. P2PDB_MAX_CONNECTIONS. The command line wins over the environment, which wins over the file.",
        valueName: "file"))
    var config: String?

    @Flag(help: "Print the settings in effect and where each came from, then exit without starting the node.")
    var printConfig = false

    @Flag(help: "With --print-config, print the settings as JSON.")
    var json = false

    func run() async throws {
        let (level, format) = try await reportingErrors { (try logLevelGiven(), logFormat) }
        LoggingSystem.bootstrap { label in format.handler(label: label, level: level) }
        let logger = Logger(label: "p2pdb")
        // A collector that reads JSON gets the reason `serve` stopped as JSON too.
        try await reportingErrors(to: format == .json && !printConfig ? logger : nil) {
            let (host, port) = try NetworkAddress.parse(http)
            let givenToken = try tokenGiven()
            let tokenFile = try apiTokens.map(APITokenFile.init(path:))
            try checkLimits()
            if printConfig {
                try printSettings()
                return
            }
            let directory = data.directory
            SQLiteMemoryLimit.set(bytes: maxSQLiteMemory << 20)
            var limits = StatementLimits(readConnections: readConnections, maximumTemporaryBytes: maxTempDisk << 20)
            limits.timeout = statementTimeout == 0 ? nil : .milliseconds(Int64(statementTimeout * 1000))
            if !directory.isInitialized { try directory.initialize() }
            let nodeID = try directory.loadKey().nodeID
            let membership = try networkGiven(directory, node: nodeID)
            var options = StoreOptions(limits: limits)
            options.network = membership?.network.id
            options.credential = membership?.credential
            let node = try Node.open(directory, options: options)
            if let membership { try directory.join(membership.network, credential: membership.credential, node: nodeID, now: SystemClock().now()) }
            try requireConsistentNetwork(node)
            let apiToken = try givenToken ?? directory.apiToken()
            var served = ServerConfiguration(
                host: host, port: port, apiToken: apiToken, additionalTokens: try tokenFile?.tokens(besides: apiToken) ?? [],
                maximumBodySize: maxBody, maximumBundleSize: maxBundle, idleTimeout: .milliseconds(Int64(idleTimeout * 1000)),
                maximumConnections: maxConnections, maximumChangeSubscribers: maxChangeSubscribers)
            served.corsOrigin = corsOrigin
            let configuration = served
            if let tokenFile { logger.info("\(configuration.additionalTokens.count) more API tokens from \(tokenFile.path)") }
            let mode = try modeDescription(directory)
            logger.info("node \(node.nodeID.hex) serving \(directory.path) in \(mode)")
            let metrics = NodeMetrics()
            var services: [any Service] = []
            var peers: (any PeerStatusProvider)?
            if listen != nil || !join.isEmpty {
                let replication = try await Replication.prepare(node: node, options: syncOptions, metricsFactory: metrics.factory, logger: logger)
                services.append(CancellableService { try await replication.run() })
                peers = replication.engine
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
            } catch let failure as ListenFailure {
                throw P2PDBError(.unavailable, failure.description)
            } catch {
                throw P2PDBError(.unavailable, "the node stopped: \(error)")
            }
            logger.info("stopped")
        }
    }
}

extension ServeCommand {
    private func logLevelGiven() throws -> Logger.Level {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw P2PDBError(.invalidInput, "--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        return level
    }

    /// The token given by --api-token or in --api-token-file; nil for the
    /// one stored in the data directory.
    private func tokenGiven() throws -> String? {
        var token: (value: String, source: String)?
        switch (apiToken, apiTokenFile) {
        case (let value?, nil):
            token = (value, "--api-token")
        case (nil, let path?):
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw P2PDBError(.invalidInput, "cannot read the API token file \(path)")
            }
            token = (String(text.split(whereSeparator: \.isNewline).first ?? ""), "the file \(path)")
        case (nil, nil):
            return nil
        case (_?, _?):
            throw P2PDBError(.invalidInput, "give the API token one way: --api-token or --api-token-file (P2PDB_API_TOKEN or P2PDB_API_TOKEN_FILE), not both")
        }
        guard let token else { return nil }
        guard APIToken.isWellFormed(token.value) else {
            throw P2PDBError(.invalidInput, "the API token from \(token.source) must be \(APIToken.rule)")
        }
        return token.value
    }

    /// `--print-config`: every setting, its value in effect and its source.
    private func printSettings() throws {
        let resolved = try ResolvedCommandLine.resolve(
            Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment)
        let report = resolved.report()
        if json {
            printJSON(.object([
                ("config", resolved.configurationFile.map(JSON.string) ?? .null),
                ("settings", .array(report.map { row in
                    .object([("name", .string(row.name)), ("value", row.value), ("source", .string(row.source.kind)), ("variable", .string(row.variable))])
                })),
            ]))
            return
        }
        let width = report.map(\.name.count).max() ?? 0
        let valueWidth = min(40, report.map { Self.text($0.value).count }.max() ?? 0)
        for row in report {
            let value = Self.text(row.value)
            print(row.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                + value.padding(toLength: max(valueWidth, value.count), withPad: " ", startingAt: 0) + "  " + row.source.description)
        }
    }

    private static func text(_ value: JSON) -> String {
        switch value {
        case .null: return "(not set)"
        case .string(let text): return text
        case .array(let items): return items.map(text).joined(separator: ", ")
        default: return value.text
        }
    }

    private var syncOptions: SyncOptions {
        SyncOptions(
            listen: listen, join: join, advertise: advertise, mdns: mdns, fanout: fanout, maximumPeers: maxPeers,
            antiEntropyInterval: antiEntropyInterval)
    }

    /// Checks the numeric settings, before anything is opened.
    private func checkLimits() throws {
        guard maxBody > 0, maxBundle > 0 else { throw P2PDBError(.invalidInput, "--max-body and --max-bundle must be positive") }
        guard maxConnections > 0, maxChangeSubscribers > 0, (1...64).contains(readConnections) else {
            throw P2PDBError(
                .invalidInput, "--max-connections and --max-change-subscribers must be positive, --read-connections from 1 to 64")
        }
        guard (1...(1 << 30)).contains(maxTempDisk) else {
            throw P2PDBError(.invalidInput, "--max-temp-disk must be a positive number of MiB")
        }
        guard (64...(1 << 30)).contains(maxSQLiteMemory) else {
            throw P2PDBError(.invalidInput, "--max-sqlite-memory must be at least 64 (MiB)")
        }
        guard idleTimeout > 0, idleTimeout.isFinite else {
            throw P2PDBError(.invalidInput, "--idle-timeout must be a positive number of seconds")
        }
        guard statementTimeout >= 0, statementTimeout.isFinite else {
            throw P2PDBError(.invalidInput, "--statement-timeout must be 0 (no limit) or a positive number of seconds")
        }
        try syncOptions.checkValues()
    }

    /// The network and credential given on the command line, checked
    /// against this node before anything is written; nil if none is given.
    private func networkGiven(_ directory: DataDirectory, node: NodeID) throws -> (network: NetworkDescriptor, credential: Credential?)? {
        guard network != nil || credential != nil else { return nil }
        let descriptor: NetworkDescriptor
        if let network {
            descriptor = try NetworkDescriptor(json: PrivateFile.readJSON(network, what: "network descriptor"))
        } else if let kept = try directory.networkDescriptor() {
            descriptor = kept
        } else {
            throw P2PDBError(.invalidInput, "--credential needs --network: the descriptor of the network the credential is for")
        }
        // Without a credential the node is admitted only by an admin's grant
        // in the log, which it learns from a node that holds it.
        var given = try directory.credential().flatMap { $0.network == descriptor.id ? $0 : nil }
        if let credential { given = try Credential(json: PrivateFile.readJSON(credential, what: "credential")) }
        if let problem = given?.problem(network: descriptor.id, node: node, now: SystemClock().now()) {
            throw P2PDBError(.invalidInput, "this node (\(node.short)) cannot join network \(descriptor.label): \(problem)")
        }
        return (descriptor, given)
    }

    /// A replica that keeps to a network is served only with that network's
    /// descriptor: in open mode its peers would be anyone.
    private func requireConsistentNetwork(_ node: Node) throws {
        let kept = try node.directory.networkDescriptor()?.id
        guard let network = node.store.summary.network, kept != network else { return }
        throw P2PDBError(
            .invalidInput,
            "this replica belongs to private network \(network.short), but the data directory has no descriptor for it: start with --network FILE --credential FILE")
    }

    private func modeDescription(_ directory: DataDirectory) throws -> String {
        guard let network = try directory.networkDescriptor() else { return "open mode (any peer may join; see `p2pdb network`)" }
        return "private network \(network.label)"
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

    @OptionGroup var output: JSONOutputOption

    func run() async throws {
        try await reportingErrors {
            let token = try data.directory.apiToken()
            output.emit(token, json: .object([("token", .string(token))]))
        }
    }
}
