import Hummingbird
import Logging
import NIOCore
import P2PDB

/// Turns every error a handler or the router throws into the API's JSON
/// error body, so that clients see one shape whatever failed. Anything
/// unexpected becomes a logged 500 with no internals in the message.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let maximumBodySize: Int
    let metrics: NodeMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let apiError = translate(error)
            metrics.recordError(code: apiError.code)
            if apiError.status == .internalServerError {
                context.logger.error("\(request.method) \(request.uri.path) failed: \(String(describing: error))")
            }
            return try apiError.response(from: request, context: context)
        }
    }

    private func translate(_ error: any Error) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as P2PDBError:
            return APIError(error)
        case is NIOTooManyBytesError:
            return APIError(
                status: .contentTooLarge, code: "too_large",
                message: "the request body is larger than the limit of \(maximumBodySize) bytes")
        case let error as HTTPError:
            return APIError(
                status: error.status, code: Self.code(for: error.status),
                message: error.body ?? error.status.reasonPhrase)
        case let error as any HTTPResponseError:
            return APIError(status: error.status, code: Self.code(for: error.status), message: error.status.reasonPhrase)
        default:
            return APIError(status: .internalServerError, code: "internal", message: "internal error; the node's log says more")
        }
    }

    private static func code(for status: HTTPResponse.Status) -> String {
        switch status {
        case .notFound: return "not_found"
        case .methodNotAllowed: return "method_not_allowed"
        case .contentTooLarge: return "too_large"
        case .unauthorized: return "unauthorized"
        case .badRequest: return "invalid_input"
        default: return "http_\(status.code)"
        }
    }
}
