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

    func send(_ method: String, _ path: String, body: JSON? = nil) async throws -> JSON {
        var request = URLRequest(url: baseURL.appendingPathComponent(path))
        request.httpMethod = method
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        if let body {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(body.text.utf8)
        }
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw P2PDBError(.unavailable, "cannot reach the node at \(baseURL.absoluteString): \(error.localizedDescription)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        let json = try? JSON.parse(Array(data))
        guard (200..<300).contains(status) else {
            if case .object? = json?["error"], case .string(let code)? = json?["error"]?["code"],
                case .string(let message)? = json?["error"]?["message"]
            {
                throw P2PDBError(P2PDBError.Kind(rawValue: code) ?? .invalidInput, message)
            }
            throw P2PDBError(.unavailable, "the node at \(baseURL.absoluteString) answered HTTP \(status)")
        }
        guard let json else { throw P2PDBError(.corrupt, "the node answered something that is not JSON") }
        return json
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
