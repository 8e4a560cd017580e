import Hummingbird
import P2PDB

/// Requires `Authorization: Bearer <token>` on every request except the
/// health check, comparing in constant time so that response timing does
/// not reveal how much of a guess was right.
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The whole expected header value, `Bearer <token>`.
    let expected: [UInt8]
    let openPaths: Set<String>

    init(token: String, openPaths: Set<String> = ["/healthz"]) {
        expected = Array("Bearer \(token)".utf8)
        self.openPaths = openPaths
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if openPaths.contains(request.uri.path) { return try await next(request, context) }
        guard let header = request.headers[.authorization], Self.constantTimeEqual(header.utf8, expected) else {
            throw APIError.unauthorized
        }
        return try await next(request, context)
    }

    static func constantTimeEqual(_ a: String.UTF8View, _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}
