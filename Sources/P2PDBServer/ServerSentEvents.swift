import Hummingbird
import NIOCore
import P2PDB

/// The loop every Server-Sent Events response of the API runs: it calls
/// `send` once at the start, again after each commit to the replica (local
/// or from a peer), and writes a `: keep-alive` comment when nothing was
/// sent for half a heartbeat. It ends when the node shuts down or `send`
/// says the stream is over.
///
/// The log is the source of truth and commits only wake the stream up, so a
/// `send` that reads what changed since its last call never misses one.
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

    func run(to writer: inout any ResponseBodyWriter, send: (inout any ResponseBodyWriter) async throws -> Sent) async throws {
        let (wakeUps, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        guard let closeID = gate.onClose({ wake.finish() }) else {
            try await writer.finish(nil)
            return
        }
        defer { gate.cancel(closeID) }
        let heartbeat = self.heartbeat
        // Subscribed before the first read of the log: an entry committed
        // between that read and the subscription would wake nobody.
        let commits = store.commitWakeUps()
        defer { commits.end() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in commits.wakeUps { wake.yield() }
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
            repeat {
                switch try await send(&writer) {
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
            } while await iterator.next() != nil
            group.cancelAll()
            try await writer.finish(nil)
        }
    }
}
