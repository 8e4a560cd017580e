import Foundation
import P2PDBCore

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A plain HTTP client of one node's API, with its own connections so that
/// one kind of request never waits behind another in a shared pool.
struct APIClient: Sendable {
    struct Reply: Sendable {
        var status: Int
        var json: JSON?
        var retryAfter: String?
    }

    let base: String
    let token: String
    private let session: URLSession

    init(port: Int, token: String) {
        base = "http://127.0.0.1:\(port)"
        self.token = token
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 600
        configuration.httpMaximumConnectionsPerHost = 16
        session = URLSession(configuration: configuration)
    }

    /// - Parameter authorized: false to send no token, as a browser's
    ///   `EventSource` does.
    func send(_ method: String, _ path: String, body: String? = nil, authorized: Bool = true) async throws -> Reply {
        guard let url = URL(string: base + path) else { throw P2PDBError(.invalidInput, "bad path \(path)") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        if authorized { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await session.data(for: request)
        guard let http = response as? HTTPURLResponse else { throw P2PDBError(.unavailable, "not an HTTP response") }
        return Reply(status: http.statusCode, json: try? JSON.parse(Array(data)), retryAfter: http.value(forHTTPHeaderField: "Retry-After"))
    }

    func sql(_ sql: String) async throws -> Reply {
        try await send("POST", "/v1/sql", body: Self.sqlBody(sql))
    }

    static func sqlBody(_ sql: String) -> String { #"{"sql": \#(JSON.string(sql).text)}"# }
}

/// A lock that suspends instead of blocking a thread.
actor AsyncGate {
    private var held = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        if !held {
            held = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty { held = false } else { waiting.removeFirst().resume() }
    }
}
