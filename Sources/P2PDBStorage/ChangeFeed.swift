import Synchronization

/// Hands every entry the replica applies, local or remote, to subscribers,
/// in log order, after it is durable.
final class ChangeFeed: Sendable {
    private let subscribers = Mutex<[Int: AsyncStream<AppliedEntry>.Continuation]>([:])
    private let batchSubscribers = Mutex<[Int: AsyncStream<[AppliedEntry]>.Continuation]>([:])
    private let wakeSubscribers = Mutex<[Int: WakeUp]>([:])
    private let nextID = Atomic<Int>(0)

    private struct WakeUp: Sendable {
        let filter: @Sendable ([AppliedEntry]) -> Bool
        let continuation: AsyncStream<Void>.Continuation
    }

    func subscribe(bufferSize: Int) -> AsyncStream<AppliedEntry> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: AppliedEntry.self, bufferingPolicy: .bufferingOldest(bufferSize))
        let id = nextID.add(1, ordering: .relaxed).newValue
        subscribers.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        return stream
    }

    /// The same entries, one array per commit: for consumers that send
    /// them on (gossip) and gain from batching.
    func subscribeBatches(bufferSize: Int) -> AsyncStream<[AppliedEntry]> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: [AppliedEntry].self, bufferingPolicy: .bufferingOldest(bufferSize))
        let id = nextID.add(1, ordering: .relaxed).newValue
        batchSubscribers.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in
            _ = self?.batchSubscribers.withLock { $0.removeValue(forKey: id) }
        }
        return stream
    }

    /// A wake-up after each commit whose entries pass `filter`, which runs
    /// on the committing thread and must be quick. Wake-ups that arrive
    /// while the subscriber is busy merge into one, so this never falls
    /// behind. End it with ``unsubscribeWakeUps(_:)``.
    func subscribeWakeUps(_ filter: @escaping @Sendable ([AppliedEntry]) -> Bool) -> (id: Int, wakeUps: AsyncStream<Void>) {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let id = nextID.add(1, ordering: .relaxed).newValue
        wakeSubscribers.withLock { $0[id] = WakeUp(filter: filter, continuation: continuation) }
        continuation.onTermination = { [weak self] _ in
            _ = self?.wakeSubscribers.withLock { $0.removeValue(forKey: id) }
        }
        return (id, stream)
    }

    func unsubscribeWakeUps(_ id: Int) {
        wakeSubscribers.withLock { $0.removeValue(forKey: id) }?.continuation.finish()
    }

    /// Subscribers of every kind: for tests that check that subscriptions end.
    var subscriberCount: Int {
        subscribers.withLock { $0.count } + batchSubscribers.withLock { $0.count } + wakeSubscribers.withLock { $0.count }
    }

    func publish(_ entries: [AppliedEntry]) {
        guard !entries.isEmpty else { return }
        for wakeUp in wakeSubscribers.withLock({ Array($0.values) }) where wakeUp.filter(entries) {
            wakeUp.continuation.yield()
        }
        for continuation in batchSubscribers.withLock({ Array($0.values) }) {
            if case .dropped = continuation.yield(entries) { continuation.finish() }
        }
        let current = subscribers.withLock { Array($0.values) }
        for continuation in current {
            for entry in entries {
                if case .dropped = continuation.yield(entry) {
                    // A subscriber that falls this far behind resumes from the log.
                    continuation.finish()
                    break
                }
            }
        }
    }

    func finishAll() {
        let current = subscribers.withLock { subscribers in
            defer { subscribers = [:] }
            return Array(subscribers.values)
        }
        for continuation in current { continuation.finish() }
        let batches = batchSubscribers.withLock { subscribers in
            defer { subscribers = [:] }
            return Array(subscribers.values)
        }
        for continuation in batches { continuation.finish() }
        let wakeUps = wakeSubscribers.withLock { subscribers in
            defer { subscribers = [:] }
            return Array(subscribers.values)
        }
        for wakeUp in wakeUps { wakeUp.continuation.finish() }
    }
}
