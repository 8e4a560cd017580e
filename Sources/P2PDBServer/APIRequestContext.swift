import Hummingbird

/// The request context of the HTTP API: what Hummingbird needs, and the role
/// of the request's bearer token, which ``BearerTokenMiddleware`` sets.
struct APIRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// Nil on the paths open without a token (`/healthz`) only.
    var role: APIRole?

    init(source: Source) {
        coreContext = CoreRequestContextStorage(source: source)
    }

    /// The role of the request's token. Every route but the open ones runs
    /// after the token middleware; should one not, it answers 401, not more.
    func tokenRole() throws(APIError) -> APIRole {
        guard let role else { throw APIError.unauthorized }
        return role
    }
}
