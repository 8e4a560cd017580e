import P2PDB
import Synchronization

/// A bounded queue of messages to one peer, bounded both in messages and in
/// bytes: `offer` drops when it is full, `send` waits for room. Transports
/// put one behind every connection, so a slow peer costs bounded memory.
public struct MessageQueue: Sendable {
    private let stream: AsyncThrowingStream<SyncMessage, any Error>
    private let input: AsyncThrowingStream<SyncMessage, any Error>.Continuation
    private let state: State
    private let byteLimit: Int

    fileprivate final class State: Sendable {
        let closed = Atomic<Bool>(false)
        let queuedBytes = Atomic<Int>(0)
    }

    public init(limit: Int, byteLimit: Int = 8 << 20) {
        (stream, input) = AsyncThrowingStream.makeStream(
            of: SyncMessage.self, throwing: (any Error).self, bufferingPolicy: .bufferingOldest(limit))
        state = State()
        self.byteLimit = byteLimit
    }

    /// The queued messages, in order; each leaves the byte count as it is read.
    public var messages: Messages { Messages(base: stream, state: state) }

    public struct Messages: AsyncSequence, Sendable {
        public typealias Element = SyncMessage
        let base: AsyncThrowingStream<SyncMessage, any Error>
        fileprivate let state: State

        public struct AsyncIterator: AsyncIteratorProtocol {
            var base: AsyncThrowingStream<SyncMessage, any Error>.AsyncIterator
            fileprivate let state: State

            public mutating func next() async throws -> SyncMessage? {
                guard let message = try await base.next() else { return nil }
                state.queuedBytes.subtract(message.approximateSize, ordering: .relaxed)
                return message
            }
        }

        public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), state: state) }
    }

    public var isClosed: Bool { state.closed.load(ordering: .relaxed) }

    /// Waits until the message is queued; throws if the queue is closed.
    public func send(_ message: SyncMessage) async throws {
        while !isClosed {
            if hasRoom(for: message) {
                switch enqueue(message) {
                case .enqueued: return
                case .terminated: throw P2PDBError(.unavailable, "the connection is closed")
                case .dropped: break
                }
            }
            try await Task.sleep(for: .milliseconds(1))
        }
        throw P2PDBError(.unavailable, "the connection is closed")
    }

    /// Queues the message if there is room.
    public func offer(_ message: SyncMessage) -> Bool {
        guard !isClosed, hasRoom(for: message) else { return false }
        return enqueue(message) == .enqueued
    }

    /// An empty queue takes any message, however large.
    private func hasRoom(for message: SyncMessage) -> Bool {
        let queued = state.queuedBytes.load(ordering: .relaxed)
        return queued == 0 || queued + message.approximateSize <= byteLimit
    }

    private enum Outcome { case enqueued, dropped, terminated }

    private func enqueue(_ message: SyncMessage) -> Outcome {
        let size = message.approximateSize
        state.queuedBytes.add(size, ordering: .relaxed)
        switch input.yield(message) {
        case .enqueued: return .enqueued
        case .dropped:
            state.queuedBytes.subtract(size, ordering: .relaxed)
            return .dropped
        case .terminated:
            state.queuedBytes.subtract(size, ordering: .relaxed)
            return .terminated
        @unknown default: return .terminated
        }
    }

    /// Ends the stream after what is queued; `error` ends it at once.
    public func finish(throwing error: (any Error)? = nil) {
        state.closed.store(true, ordering: .relaxed)
        input.finish(throwing: error)
    }
}
