import Foundation
import Logging
import P2PDB
import P2PDBServer
import Synchronization
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A node with its HTTP API on a free loopback port, in a temporary
/// directory that is removed when the test ends.
final class TestServer: Sendable {
    let server: NodeServer
    let directory: URL
    let token = "test-token-0123456789abcdef"
    let port: Int
    private let running: Task<Void, any Error>

    var baseURL: URL { URL(string: "http://127.0.0.1:\(port)")! }
    var node: Node { server.node }

    init(
        maximumBodySize: Int = ServerConfiguration.defaultMaximumBodySize, heartbeat: Duration = .seconds(15),
        peers: (any PeerStatusProvider)? = nil, configure: (inout ServerConfiguration) -> Void = { _ in }
    ) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("p2pdb-server-\(UUID().uuidString)")
        let node = try Node.open(DataDirectory(path: directory.path), createIfNeeded: true, options: StoreOptions(durability: .off))
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "test-server")
        logger.logLevel = ProcessInfo.processInfo.environment["P2PDB_TEST_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .warning
        var configuration = ServerConfiguration(port: 0, apiToken: token, maximumBodySize: maximumBodySize, changeFeedHeartbeat: heartbeat)
        configure(&configuration)
        server = NodeServer(
            node: node,
            configuration: configuration, peers: peers,
            logger: logger, onListening: { portContinuation.yield($0) })
        let server = self.server
        running = Task { try await server.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw P2PDBError(.unavailable, "the test server did not start") }
        self.port = port
    }

    /// Shuts the server down gracefully and waits until it has stopped.
    func stop() async throws {
        await server.shutdown()
        try await running.value
    }

    deinit {
        running.cancel()
        try? FileManager.default.removeItem(at: directory)
    }

    // MARK: Requests

    struct Reply {
        var status: Int
        var json: JSON?
        var text: String
        var headers: [String: String]
    }

    /// - Parameter token: nil for no `Authorization` header; by default the
    ///   node's own token.
    func request(
        _ method: String, _ path: String, body: String? = nil, data: Data? = nil, token: String?? = .none,
        headers: [String: String] = [:]
    ) async throws -> Reply {
        var request = URLRequest(url: URL(string: baseURL.absoluteString + path)!)
        request.httpMethod = method
        let bearer: String? = token ?? self.token
        if let bearer { request.setValue("Bearer \(bearer)", forHTTPHeaderField: "Authorization") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        } else if let data {
            request.httpBody = data
            request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        var headerFields: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { headerFields[name.lowercased()] = value }
        }
        let text = String(decoding: data, as: UTF8.self)
        return Reply(status: http.statusCode, json: try? JSON.parse(Array(data)), text: text, headers: headerFields)
    }

    /// POST /v1/sql with the given SQL and parameters (as JSON text).
    func sql(_ sql: String, params: String = "[]", token: String?? = .none) async throws -> Reply {
        try await request("POST", "/v1/sql", body: #"{"sql": \#(JSON.string(sql).text), "params": \#(params)}"#, token: token)
    }

    /// POST /v1/tx with statements that take no parameters.
    func transaction(_ statements: [String], token: String?? = .none) async throws -> Reply {
        let body = JSON.object([("statements", .array(statements.map { .object([("sql", .string($0))]) }))])
        return try await request("POST", "/v1/tx", body: body.text, token: token)
    }
}

extension Optional where Wrapped == JSON {
    var errorCode: String? { self?["error"]?["code"]?.stringValue }
}
