import Hummingbird
import P2PDB

/// Records each request's count and latency by route template
/// (`/v1/entries/{id}`), method and status. Every label is drawn from a
/// short fixed list, so that neither entry IDs nor a client's made-up paths
/// and methods multiply the series.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: NodeMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let method = request.method.rawValue
        metrics.recordRequest(
            route: Self.route(context.endpointPath), method: countedMethods.contains(method) ? method : "other",
            status: response.status.code, seconds: seconds)
        return response
    }

    /// The route template Hummingbird matched; `unmatched` for a path or
    /// method no route takes, which Hummingbird's not-found responder calls
    /// `NotFound` (a template always starts with `/`).
    static func route(_ endpointPath: String?) -> String {
        guard let endpointPath, endpointPath.hasPrefix("/") else { return "unmatched" }
        return endpointPath
    }
}

/// Methods counted under their own name; any other is `other`.
private let countedMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
