import Foundation
import P2PDB

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A running node reached through its HTTP API, for `--url` and for a data
/// directory that a `p2pdb serve` process holds.
struct RemoteNode: Sendable {
    let baseURL: URL
    let token: String

    init(url: String, token: String) throws {
        guard let parsed = URL(string: url.hasSuffix("/") ? String(url.dropLast()) : url),
            let scheme = parsed.scheme, scheme == "http" || scheme == "https", parsed.host != nil
        else { throw P2PDBError(.invalidInput, "--url must look like http://127.0.0.1:7070; got \(url)") }
        guard !token.isEmpty else {
            throw P2PDBError(.invalidInput, "a token is needed with --url: pass --token or set P2PDB_TOKEN (see `p2pdb token`)")
        }
        baseURL = parsed
        self.token = token
    }

    func execute(_ sql: String, _ parameters: [Value]) async throws -> TransactionResult {
        let body = JSON.object([("sql", .string(sql)), ("params", .array(parameters.map(\.json)))])
        return try Self.transactionResult(try await send("POST", "/v1/sql", body: body))
    }

    func status() async throws -> JSON { try await send("GET", "/v1/status") }

    /// The newest entries, newest first, as `GET /v1/entries` renders them.
    func recentEntries(limit: Int) async throws -> [JSON] {
        let page = try await send(
            "GET", "/v1/entries", query: [URLQueryItem(name: "order", value: "newest"), URLQueryItem(name: "limit", value: "\(limit)")])
        guard let entries = page["entries"]?.arrayValue else { throw P2PDBError(.corrupt, "the node answered without entries") }
        return entries
    }

    /// A bundle of the entries `since` lacks, and how many it holds.
    func exportBundle(since: VersionVector?) async throws -> (bytes: [UInt8], count: Int) {
        var query: [URLQueryItem] = []
        if let since { query.append(URLQueryItem(name: "since", value: JSONRendering.versionVector(since).text)) }
        let (data, response) = try await exchange("GET", "/v1/bundle", query: query)
        let count = response.value(forHTTPHeaderField: "P2PDB-Entries").flatMap(Int.init) ?? 0
        return (Array(data), count)
    }

    /// A backup file of the node's replica, how many entries it holds and
    /// whose node it is (`GET /v1/backup`, admin token).
    func backup() async throws -> (bytes: Data, entries: Int, node: NodeID?) {
        let (data, response) = try await exchange("GET", "/v1/backup")
        let entries = response.value(forHTTPHeaderField: "P2PDB-Entries").flatMap(Int.init) ?? 0
        return (data, entries, response.value(forHTTPHeaderField: "P2PDB-Node").flatMap { NodeID(hex: $0) })
    }

    /// Sends a bundle to be verified and merged; `{"applied", "duplicates", "pending"}`.
    func importBundle(_ bytes: [UInt8]) async throws -> JSON {
        let (data, _) = try await exchange("POST", "/v1/bundle", body: Data(bytes), contentType: "application/octet-stream")
        return try Self.json(data)
    }

    func send(_ method: String, _ path: String, query: [URLQueryItem] = [], body: JSON? = nil) async throws -> JSON {
        let (data, _) = try await exchange(
            method, path, query: query, body: body.map { Data($0.text.utf8) }, contentType: "application/json")
        return try Self.json(data)
    }

    private static func json(_ data: Data) throws -> JSON {
        guard let json = try? JSON.parse(Array(data)) else { throw P2PDBError(.corrupt, "the node answered something that is not JSON") }
        return json
    }

    /// One request; an error answer becomes the node's own error.
    private func exchange(
        _ method: String, _ path: String, query: [URLQueryItem] = [], body: Data? = nil, contentType: String? = nil
    ) async throws -> (Data, HTTPURLResponse) {
        var components = URLComponents(url: baseURL.appendingPathComponent(path), resolvingAgainstBaseURL: false)
        if !query.isEmpty { components?.queryItems = query }
        guard let url = components?.url else { throw P2PDBError(.invalidInput, "cannot make a URL for \(path)") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        if let body {
            request.setValue(contentType, forHTTPHeaderField: "Content-Type")
            request.httpBody = body
        }
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch where Task.isCancelled {
            throw P2PDBError(.cancelled, "the request was cancelled; a write the node had already received may still commit (see `p2pdb log`)")
        } catch {
            throw P2PDBError(.unavailable, "cannot reach the node at \(baseURL.absoluteString): \(error.localizedDescription)")
        }
        guard let http = response as? HTTPURLResponse else {
            throw P2PDBError(.unavailable, "the node at \(baseURL.absoluteString) did not answer over HTTP")
        }
        guard (200..<300).contains(http.statusCode) else {
            let json = try? JSON.parse(Array(data))
            if case .object? = json?["error"], case .string(let code)? = json?["error"]?["code"],
                case .string(let message)? = json?["error"]?["message"]
            {
                throw P2PDBError(P2PDBError.Kind(rawValue: code) ?? .invalidInput, message)
            }
            throw P2PDBError(.unavailable, "the node at \(baseURL.absoluteString) answered HTTP \(http.statusCode)")
        }
        return (data, http)
    }

    /// Reads `{"changes", "entry"}` and `{"columns", "rows"}` back into a result.
    static func transactionResult(_ json: JSON) throws -> TransactionResult {
        var results: [StatementResult] = []
        if case .array(let columns)? = json["columns"], case .array(let rows)? = json["rows"] {
            var query = StatementResult(isQuery: true)
            query.columns = columns.map { if case .string(let name) = $0 { return name } else { return "?" } }
            for row in rows {
                guard case .array(let cells) = row else { continue }
                query.rows.append(try cells.map { try Value(json: $0) })
            }
            results.append(query)
        }
        if case .number(let text)? = json["changes"], let changes = Int(text) {
            results.append(StatementResult(changes: changes))
        }
        var entry: EntryID?
        if case .string(let hex)? = json["entry"] { entry = EntryID(hex: hex) }
        return TransactionResult(results: results, entry: entry)
    }
}
