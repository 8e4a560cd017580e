import ArgumentParser
import Foundation
import Logging
import P2PDB
import P2PDBServer

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the node: the HTTP/JSON API, the live change feed and metrics.",
        discussion: """
            Initialises the data directory on first run. Every endpoint except GET /healthz needs \
            Authorization: Bearer <token>; the token is --api-token or the one stored in the data \
            directory (print it with `p2pdb token --data DIR`). SIGINT and SIGTERM stop the node \
            gracefully: requests in flight finish, new ones get 503, nothing acknowledged is lost.
            """)

    @OptionGroup var data: DataOption

    @Option(help: ArgumentHelp("Where the HTTP API listens (port 0 picks a free one).", valueName: "host:port"))
    var http = "127.0.0.1:\(ServerConfiguration.defaultPort)"

    @Option(help: ArgumentHelp("The API token (default: the one stored in the data directory).", valueName: "token"))
    var apiToken: String?

    @Option(help: ArgumentHelp("The largest request body accepted, in bytes.", valueName: "bytes"))
    var maxBody = ServerConfiguration.defaultMaximumBodySize

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func run() async throws {
        try await reportingErrors {
            guard let level = Logger.Level(rawValue: logLevel) else {
                throw P2PDBError(.invalidInput, "--log-level must be one of trace, debug, info, notice, warning, error, critical")
            }
            let (host, port) = try ServerConfiguration.parseAddress(http)
            guard maxBody > 0 else { throw P2PDBError(.invalidInput, "--max-body must be positive") }
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
            let node = try Node.open(directory, createIfNeeded: true)
            let configuration = ServerConfiguration(
                host: host, port: port, apiToken: try apiToken ?? directory.apiToken(), maximumBodySize: maxBody)
            logger.info("node \(node.nodeID.hex) serving \(directory.path)")
            let announcedHost = host == "0.0.0.0" || host == "::" ? "127.0.0.1" : host
            let server = NodeServer(
                node: node, configuration: configuration, handleSignals: true, logger: logger,
                onListening: { port in
                    let url = announcedHost.contains(":") ? "http://[\(announcedHost)]:\(port)" : "http://\(announcedHost):\(port)"
                    do {
                        try ServeInfo(url: url, pid: getpid()).write(directory)
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

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Print the HTTP API token stored in the data directory.")

    @OptionGroup var data: DataOption

    func run() async throws {
        try await reportingErrors { print(try data.directory.apiToken()) }
    }
}
