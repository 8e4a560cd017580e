import Hummingbird
import Synchronization

/// Marks the node as shutting down: from then on new requests get 503 and
/// open change feeds end, so that the HTTP server's graceful shutdown waits
/// only for requests that can finish.
final class ShutdownGate: Sendable {
    private struct State {
        var closing = false
        var nextID = 0
        var onClose: [Int: @Sendable () -> Void] = [:]
    }

    private let state = Mutex(State())

    var isClosing: Bool { state.withLock { $0.closing } }

    /// Runs `action` when the gate closes; returns nil (and does not run it)
    /// if the gate is closed already.
    func onClose(_ action: @escaping @Sendable () -> Void) -> Int? {
        state.withLock { state in
            guard !state.closing else { return nil }
            state.nextID += 1
            state.onClose[state.nextID] = action
            return state.nextID
        }
    }

    func cancel(_ id: Int) {
        _ = state.withLock { $0.onClose.removeValue(forKey: id) }
    }

    func close() {
        let actions = state.withLock { state in
            state.closing = true
            defer { state.onClose = [:] }
            return Array(state.onClose.values)
        }
        for action in actions { action() }
    }
}

/// Answers 503 once the gate is closed.
struct ShutdownMiddleware<Context: RequestContext>: RouterMiddleware {
    let gate: ShutdownGate

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !gate.isClosing else { throw APIError.shuttingDown }
        return try await next(request, context)
    }
}
