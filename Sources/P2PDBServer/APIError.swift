import Hummingbird
import P2PDB

/// An error as the HTTP API reports it: a status code and
/// `{"error": {"code": "...", "message": "..."}}`.
struct APIError: HTTPResponseError {
    let status: HTTPResponse.Status
    let code: String
    let message: String

    init(status: HTTPResponse.Status, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    init(_ error: P2PDBError) {
        self.init(status: Self.status(for: error.kind), code: error.kind.rawValue, message: error.message)
    }

    static let unauthorized = APIError(
        status: .unauthorized, code: "unauthorized",
        message: "missing or wrong bearer token: send Authorization: Bearer <token> (see `p2pdb token --data DIR`)")

    static let ticketInvalid = APIError(
        status: .unauthorized, code: "unauthorized",
        message: "the ticket is wrong or has expired (tickets last a minute, and a restart of the node voids them): get a new one with POST /v1/tickets")

    static let ticketScope = APIError(
        status: .unauthorized, code: "unauthorized",
        message: "a ticket opens event streams only (GET /v1/changes, GET /v1/subscriptions/ID/events); send Authorization: Bearer <token> for anything else")

    static let shuttingDown = APIError(
        status: .serviceUnavailable, code: "unavailable", message: "the node is shutting down; retry on another node or later")

    static func status(for kind: P2PDBError.Kind) -> HTTPResponse.Status {
        switch kind {
        case .invalidSQL, .invalidParameters, .invalidInput, .corrupt, .limitExceeded: return .badRequest
        case .refused, .forbidden: return .forbidden
        case .constraint: return .conflict
        case .notFound: return .notFound
        case .unavailable, .locked, .busy, .cancelled: return .serviceUnavailable
        case .notInitialized, .storage: return .internalServerError
        }
    }

    var body: JSON {
        .object([("error", .object([("code", .string(code)), ("message", .string(message))]))])
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONResponse.make(body, status: status)
        if status == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer" }
        if code == P2PDBError.Kind.busy.rawValue { response.headers[.retryAfter] = "1" }
        return response
    }
}
