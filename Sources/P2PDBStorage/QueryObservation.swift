import P2PDBCore
import Synchronization

extension ReplicaStore {
    /// The result of a read-only query now, and again each time a commit,
    /// local or replicated from a peer, changes a table the query reads.
    ///
    /// ```swift
    /// for try await result in store.observe(SQLRequest("SELECT id, stock FROM items WHERE stock < ?", [5])) {
    ///     print(result.rows)    // now, then after each change to items
    /// }
    /// ```
    ///
    /// `Node.observe(_:_:removingDuplicates:)` is the same on a node, and
    /// decodes records too; see there for what the observation promises.
    ///
    /// - Parameter removingDuplicates: skip a result equal to the last one
    ///   yielded (a write to a table the query reads that leaves its result
    ///   as it was). True by default.
    public func observe(_ request: SQLRequest, removingDuplicates: Bool = true) -> AsyncThrowingStream<StatementResult, any Error> {
        observe(request, removingDuplicates: removingDuplicates) { $0 }
    }

    /// The same, each result transformed (decoded, say) before it is
    /// yielded; an error thrown by `transform` ends the observation with
    /// that error.
    public func observe<Element: Sendable>(
        _ request: SQLRequest, removingDuplicates: Bool = true, _ transform: @escaping @Sendable (StatementResult) throws -> Element
    ) -> AsyncThrowingStream<Element, any Error> {
        // A consumer that falls behind gets the latest result only.
        let (stream, continuation) = AsyncThrowingStream.makeStream(
            of: Element.self, throwing: (any Error).self, bufferingPolicy: .bufferingNewest(1))
        let tables = ObservedTables()
        // Subscribed before the first read: no commit falls between them.
        let (subscription, wakeUps) = feed.subscribeWakeUps { tables.touched(by: $0) }
        let task = Task {
            defer { self.feed.unsubscribeWakeUps(subscription) }
            var wakeUp = wakeUps.makeAsyncIterator()
            var last: StatementResult?
            do {
                repeat {
                    guard let (result, read) = try await self.readWhenReady(request) else { break }
                    tables.set(read)
                    if removingDuplicates, result == last { continue }
                    last = result
                    continuation.yield(try transform(result))
                } while await wakeUp.next() != nil
                continuation.finish()
            } catch {
                // A replica closed under the observation ends it quietly, as
                // its change feed does; one closed before it started is an error.
                continuation.finish(throwing: self.isClosed && last != nil ? nil : error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// The query's result and the tables it read; waits and tries again
    /// while every reader is busy. Nil once the observing task is cancelled.
    private func readWhenReady(_ request: SQLRequest) async throws -> (StatementResult, Set<IdentifierKey>)? {
        while !Task.isCancelled {
            do {
                return try await readRecordingTables(request)
            } catch let error as P2PDBError where error.kind == .busy {
                do { try await Task.sleep(for: .milliseconds(20)) } catch { return nil }
            }
        }
        return nil
    }
}

/// The tables an observed query read on its last run, and the test of a
/// commit against them (made on the committing thread).
final class ObservedTables: Sendable {
    /// Nil until the query has run once: then every commit counts.
    private let tables = Mutex<Set<IdentifierKey>?>(nil)

    func set(_ read: Set<IdentifierKey>) { tables.withLock { $0 = read } }

    /// Whether the entries change a table the query reads, or the schema
    /// (which may change what the query reads).
    func touched(by entries: [AppliedEntry]) -> Bool {
        guard let tables = tables.withLock({ $0 }) else { return true }
        return entries.contains { applied in
            let payload = applied.entry.payload
            return !payload.schemaChanges.isEmpty
                || payload.tableChanges.contains { !$0.rows.isEmpty && tables.contains(IdentifierKey($0.table)) }
        }
    }
}
