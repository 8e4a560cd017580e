import Hummingbird
import NIOCore
import P2PDB
import Synchronization

/// The loop every Server-Sent Events response of the API runs: it calls
/// `send` once at the start, again each time something the stream follows
/// happens, and writes a `: keep-alive` comment when nothing was sent for
/// half a heartbeat. It ends when the node shuts down, when what it follows
/// ends, or when `send` says the stream is over.
struct ServerSentEvents: Sendable {
    let store: ReplicaStore
    let gate: ShutdownGate
    let heartbeat: Duration

    static let headers: HTTPFields = [
        .contentType: "text/event-stream; charset=utf-8",
        .cacheControl: "no-cache",
    ]

    enum Sent {
        case nothing, events, finished
    }

    /// Follows every commit to the replica, local or from a peer.
    ///
    /// The log is the source of truth and commits only wake the stream up, so a
    /// `send` that reads what changed since its last call never misses one.
    func run(to writer: inout any ResponseBodyWriter, send: (inout any ResponseBodyWriter) async throws -> Sent) async throws {
        // Subscribed before the first read of the log: an entry committed
        // between that read and the subscription would wake nobody.
        let commits = store.commitWakeUps()
        defer { commits.end() }
        try await run(to: &writer, following: commits.wakeUps) { writer, _ in try await send(&writer) }
    }

    /// Follows `events`: `send` gets the latest one that arrived since its
    /// last call, or the error that ended them, or nil (at the start, and at
    /// a heartbeat with none new).
    func run<Events: AsyncSequence & Sendable>(
        to writer: inout any ResponseBodyWriter, following events: Events,
        send: (inout any ResponseBodyWriter, Result<Events.Element, any Error>?) async throws -> Sent
    ) async throws where Events.Element: Sendable {
        let (wakeUps, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        guard let closeID = gate.onClose({ wake.finish() }) else {
            try await writer.finish(nil)
            return
        }
        defer { gate.cancel(closeID) }
        let heartbeat = self.heartbeat
        let latest = LatestEvent<Result<Events.Element, any Error>>()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    for try await event in events {
                        latest.put(.success(event))
                        wake.yield()
                    }
                } catch {
                    latest.put(.failure(error))
                    wake.yield()
                }
                wake.finish()
            }
            group.addTask {
                while !Task.isCancelled {
                    try await Task.sleep(for: heartbeat)
                    wake.yield()
                }
            }
            try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
            var lastWrite = ContinuousClock.now
            var iterator = wakeUps.makeAsyncIterator()
            var event: Result<Events.Element, any Error>?
            repeat {
                switch try await send(&writer, event) {
                case .finished:
                    group.cancelAll()
                    try await writer.finish(nil)
                    return
                case .events:
                    lastWrite = .now
                case .nothing:
                    break
                }
                // Half the period: timer wake-ups drift, and a late
                // heartbeat is worse than an early one.
                if ContinuousClock.now - lastWrite >= heartbeat / 2 {
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    lastWrite = .now
                }
                guard await iterator.next() != nil else { break }
                event = latest.take()
            } while true
            group.cancelAll()
            try await writer.finish(nil)
        }
    }
}

/// The last event a stream has not handled yet; a newer one replaces it.
private final class LatestEvent<Event: Sendable>: Sendable {
    private let event = Mutex<Event?>(nil)

    func put(_ new: Event) { event.withLock { $0 = new } }

    func take() -> Event? { event.withLock { $0.take() } }
}
