import Hummingbird
import P2PDB

/// Requires `Authorization: Bearer <token>` on every request except the
/// health and readiness checks, and puts the token's role in the request
/// context. A GET of an event stream may carry a ``StreamTicketIssuer``
/// ticket in `?ticket=` instead, for browsers' `EventSource`. The
/// header is compared with every token, each in constant time, so that
/// response timing does not reveal which token, or how much of one, a guess
/// got right.
struct BearerTokenMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    /// Each whole expected header value, `Bearer <token>`, with its role.
    let expected: [(header: [UInt8], role: APIRole)]
    let openPaths: Set<String>
    let tickets: StreamTicketIssuer
    let clock: any WallClock

    /// Whether a GET of `path` streams events, which a ticket may open.
    static func isStream(_ path: String) -> Bool {
        path == "/v1/changes" || (path.hasPrefix("/v1/subscriptions/") && path.hasSuffix("/events"))
    }

    init(
        tokens: [APIToken], tickets: StreamTicketIssuer = StreamTicketIssuer(), clock: any WallClock = SystemClock(),
        openPaths: Set<String> = ["/", "/healthz", "/readyz"]
    ) {
        expected = tokens.map { (header: Array("Bearer \($0.token)".utf8), role: $0.role) }
        self.openPaths = openPaths
        self.tickets = tickets
        self.clock = clock
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if openPaths.contains(request.uri.path) { return try await next(request, context) }
        let role: APIRole
        if let header = request.headers[.authorization] {
            guard let tokenRole = self.role(of: Array(header.utf8)) else { throw APIError.unauthorized }
            role = tokenRole
        } else if let ticket = request.uri.queryParameters.get("ticket") {
            guard request.method == .get, Self.isStream(request.uri.path) else { throw APIError.ticketScope }
            guard let ticketRole = tickets.role(of: ticket, now: clock.now()) else { throw APIError.ticketInvalid }
            role = ticketRole
        } else {
            throw APIError.unauthorized
        }
        var context = context
        context.role = role
        return try await next(request, context)
    }

    /// The role of the token `header` carries; nil for none. A token listed
    /// twice gets the lesser of its roles.
    func role(of header: [UInt8]) -> APIRole? {
        var found: APIRole?
        for token in expected where Self.constantTimeEqual(header, token.header) {
            found = min(found ?? token.role, token.role)
        }
        return found
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}
