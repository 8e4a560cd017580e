import P2PDB
import Synchronization

/// A bounded queue of messages to one peer: `offer` drops when it is full,
/// `send` waits for room. Transports put one behind every connection.
public struct MessageQueue: Sendable {
    public let messages: AsyncThrowingStream<SyncMessage, any Error>
    private let input: AsyncThrowingStream<SyncMessage, any Error>.Continuation
    private let closed: Closed

    private final class Closed: Sendable {
        let flag = Atomic<Bool>(false)
    }

    public init(limit: Int) {
        (messages, input) = AsyncThrowingStream.makeStream(
            of: SyncMessage.self, throwing: (any Error).self, bufferingPolicy: .bufferingOldest(limit))
        closed = Closed()
    }

    public var isClosed: Bool { closed.flag.load(ordering: .relaxed) }

    /// Waits until the message is queued; throws if the queue is closed.
    public func send(_ message: SyncMessage) async throws {
        while !isClosed {
            switch input.yield(message) {
            case .enqueued: return
            case .dropped: try await Task.sleep(for: .milliseconds(1))
            case .terminated: break
            @unknown default: return
            }
        }
        throw P2PDBError(.unavailable, "the connection is closed")
    }

    /// Queues the message if there is room.
    public func offer(_ message: SyncMessage) -> Bool {
        guard !isClosed else { return false }
        if case .enqueued = input.yield(message) { return true }
        return false
    }

    /// Ends the stream after what is queued; `error` ends it at once.
    public func finish(throwing error: (any Error)? = nil) {
        closed.flag.store(true, ordering: .relaxed)
        input.finish(throwing: error)
    }
}
