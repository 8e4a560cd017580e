import GRDB
import GRDBSQLite
import P2PDBCore
import Synchronization

/// The single writer of a replica, committing concurrent work together.
///
/// Callers submit jobs (a client transaction, or entries from another
/// replica) and wait. One drain loop on GRDB's writer queue takes every job
/// waiting, runs each in its own savepoint inside one SQLite transaction,
/// commits once, which costs one fsync for the whole batch, and only then
/// answers each caller. A job that fails rolls back its savepoint alone;
/// the others still commit. While a batch commits, new jobs queue up and
/// form the next batch, so the batch size follows the load by itself.
/// Every job runs on the writer queue's thread, never on the caller's (a
/// task of Swift's cooperative pool), so a slow write holds no thread the
/// rest of the process needs. `state` and `capture` are only touched there.
final class GroupCommitWriter: @unchecked Sendable {
    enum Work {
        case transaction([SQLRequest])
        /// Verified entries from elsewhere. `atomic`: all apply or none do,
        /// and any refusal fails the job (bundle import).
        case entries([Entry], atomic: Bool)
        /// A peer or a bundle says this node had written up to this
        /// sequence number (see ``OwnHistory``); nil to stop waiting.
        case ownHistory(through: UInt64?)
        /// Grants and revocations signed by this node, an admin.
        case membership([MembershipChange])
    }

    enum Outcome {
        case transaction(TransactionResult)
        case entries(ApplyReport)
    }

    private struct Job {
        let work: Work
        let continuation: CheckedContinuation<Outcome, any Error>
    }

    private struct Queue {
        var jobs: [Job] = []
        var draining = false
        var closed = false
    }

    private let pool: DatabasePool
    private let key: NodeKey
    private let options: StoreOptions
    private let capture = ChangeCapture()
    /// Client SQL on the writer connection, checked where SQLite decides.
    private let authorizer = ClientAuthorizer()
    private let autoKeys = AutoKeys()
    private let deadline: StatementDeadline
    private let feed: ChangeFeed
    private var state: ReplicaState
    private let queue = Mutex(Queue())
    private let published: Mutex<ReplicaSummary>

    init(pool: DatabasePool, key: NodeKey, options: StoreOptions, feed: ChangeFeed, watchdog: StatementWatchdog) throws {
        self.pool = pool
        self.key = key
        self.options = options
        self.feed = feed
        deadline = StatementDeadline(watchdog: watchdog)
        let capture = self.capture
        let deadline = self.deadline
        let authorizer = self.authorizer
        let loaded = try pool.writeWithoutTransaction { db -> ReplicaState in
            guard let connection = db.sqliteConnection else {
                throw P2PDBError(.storage, "the replica's writer connection is closed")
            }
            let triggers = CaptureTriggers()
            try capture.install(on: connection, triggers: triggers)
            let rules = LocalWriteRules()
            try rules.install(on: connection)
            capture.triggerDepth = { [unowned rules] in rules.depth }
            deadline.install(on: connection)
            authorizer.install(on: connection)
            var loaded: ReplicaState?
            try db.inTransaction(.immediate) {
                var state = try ReplicaState.load(db, selfID: key.nodeID)
                if let network = options.network { try NetworkMembers.adopt(network, db, state: &state) }
                state.captureTriggers = triggers
                state.localRules = rules
                state.writeOrderTables = CaptureTriggers.writtenTwice(state.schema)
                for layout in state.layouts.values { try triggers.install(layout, db, writeOrder: state.writeOrderTables.contains(layout.key)) }
                // Triggers written by an older version take today's gate.
                try SchemaObjects.synchronize(db, to: state.schema)
                loaded = state
                return .commit
            }
            guard let loaded else { throw P2PDBError(.storage, "could not load the replica state") }
            return loaded
        }
        state = loaded
        published = Mutex(ReplicaSummary(loaded))
    }

    var summary: ReplicaSummary { published.withLock { $0 } }

    func submit(_ work: Work) async throws -> Outcome {
        try await withCheckedThrowingContinuation { continuation in
            enum Admission { case refused(P2PDBError), queued, startDrain }
            let admission: Admission = queue.withLock { queue in
                guard !queue.closed else { return .refused(Self.closing) }
                // Only clients are turned away: entries from peers and
                // bundles are what the node exists to take in.
                if case .transaction = work, queue.jobs.count >= options.limits.maximumWaitingWrites {
                    return .refused(Self.busy(queue.jobs.count))
                }
                queue.jobs.append(Job(work: work, continuation: continuation))
                if queue.draining { return .queued }
                queue.draining = true
                return .startDrain
            }
            switch admission {
            case .refused(let error):
                continuation.resume(throwing: error)
            case .queued:
                break
            case .startDrain:
                pool.asyncWriteWithoutTransaction { [self] db in drain(db) }
            }
        }
    }

    private static var closing: P2PDBError {
        P2PDBError(.unavailable, "the replica is closing; no new writes are accepted")
    }

    private static func busy(_ waiting: Int) -> P2PDBError {
        P2PDBError(.busy, "\(waiting) writes are already waiting for the writer; retry shortly")
    }

    /// Refuses new jobs and waits for queued ones to finish.
    func close() async {
        queue.withLock { $0.closed = true }
        while queue.withLock({ $0.draining || !$0.jobs.isEmpty }) {
            try? await Task.sleep(for: .milliseconds(5))
        }
        let authorizer = self.authorizer
        try? await pool.writeWithoutTransaction { _ in authorizer.statements.clear() }
    }

    private func drain(_ db: Database) {
        while true {
            let batch: [Job] = queue.withLock { queue in
                guard !queue.jobs.isEmpty else {
                    queue.draining = false
                    return []
                }
                let count = min(queue.jobs.count, options.maximumBatch)
                defer { queue.jobs.removeFirst(count) }
                return Array(queue.jobs.prefix(count))
            }
            if batch.isEmpty { return }
            let results = run(batch.map(\.work), db)
            for (job, result) in zip(batch, results) { job.continuation.resume(with: result) }
        }
    }

    /// Commits a batch of jobs in one transaction and returns each job's
    /// result once the commit is durable.
    private func run(_ batch: [Work], _ db: Database) -> [Result<Outcome, any Error>] {
        let snapshot = state
        var results: [Result<Outcome, any Error>] = []
        var applied: [AppliedEntry] = []
        let now = options.clock.now()
        do {
            try db.run("BEGIN IMMEDIATE")
            for (index, work) in batch.enumerated() {
                do {
                    let (outcome, entries) = try perform(work, db, now: now)
                    results.append(.success(outcome))
                    applied += entries
                } catch {
                    if !db.isInsideTransaction, let error = error as? P2PDBError, error.kind == .limitExceeded {
                        // SQLite rolls the whole transaction back when it
                        // interrupts a write: the rest of the batch did
                        // nothing wrong and runs again without this job.
                        state = snapshot
                        var rest = batch
                        rest.remove(at: index)
                        var retried = run(rest, db)
                        retried.insert(.failure(error), at: index)
                        return retried
                    }
                    // Errors such as SQLITE_FULL end the whole transaction:
                    // nothing in this batch can commit then.
                    guard db.isInsideTransaction else { throw error }
                    results.append(.failure(StoreErrors.map(error)))
                }
            }
            try db.run("COMMIT")
        } catch {
            if db.isInsideTransaction { try? db.execute(sql: "ROLLBACK") }
            state = snapshot
            let failure = StoreErrors.map(error)
            return batch.map { _ in .failure(failure) }
        }
        published.withLock { $0 = ReplicaSummary(state) }
        feed.publish(applied)
        return results
    }

    private func perform(_ work: Work, _ db: Database, now: Int64) throws -> (Outcome, [AppliedEntry]) {
        switch work {
        case .transaction(let requests):
            let (result, applied) = try deadline.run { try localTransaction(now: now).run(requests, db, state: &state) }
            return (.transaction(result), applied)
        case .membership(let changes):
            let (result, applied) = try localTransaction(now: now).administer(changes, db, state: &state)
            return (.transaction(result), applied)
        case .entries(let entries, let atomic):
            return try applyEntries(entries, atomic: atomic, db, now: now)
        case .ownHistory(let seq):
            let learned = seq.map { state.ownHistory.learning($0, held: state.ownSeq) } ?? .complete
            if learned != state.ownHistory {
                try learned.save(db)
                state.ownHistory = learned
            }
            return (.entries(ApplyReport()), [])
        }
    }

    private func localTransaction(now: Int64) -> LocalTransaction {
        LocalTransaction(
            key: key, credential: options.credential, capture: capture, autoKeys: autoKeys, now: now,
            maximumEntryBytes: options.maximumEntryBytes, limits: options.limits)
    }

    /// Applies verified entries. Atomic (bundle import): any refusal fails
    /// the whole job. Otherwise (sync) an entry that cannot be applied is
    /// refused alone and the rest of the batch still lands: the batch runs
    /// in one savepoint, and only if an entry fails on SQLite's side does it
    /// run again with a savepoint for each entry.
    private func applyEntries(_ entries: [Entry], atomic: Bool, _ db: Database, now: Int64) throws -> (Outcome, [AppliedEntry]) {
        // A row merges values from many entries, each within the entry
        // limit; together they may pass the limit client values are held
        // to, and a merge must not fail over it: SQLite's own maximum
        // applies while merging.
        if let connection = db.sqliteConnection {
            let clientLimit = sqlite3_limit(connection, SQLITE_LIMIT_LENGTH, Int32.max)
            defer { sqlite3_limit(connection, SQLITE_LIMIT_LENGTH, clientLimit) }
            return try applyEntriesWithinLimits(entries, atomic: atomic, db, now: now)
        }
        return try applyEntriesWithinLimits(entries, atomic: atomic, db, now: now)
    }

    private func applyEntriesWithinLimits(_ entries: [Entry], atomic: Bool, _ db: Database, now: Int64) throws -> (Outcome, [AppliedEntry]) {
        if atomic { return try attempt(entries, atomic: true, isolateEach: false, db, now: now) }
        do {
            return try attempt(entries, atomic: false, isolateEach: false, db, now: now)
        } catch where db.isInsideTransaction {
            return try attempt(entries, atomic: false, isolateEach: true, db, now: now)
        }
    }

    private func attempt(
        _ entries: [Entry], atomic: Bool, isolateEach: Bool, _ db: Database, now: Int64
    ) throws -> (Outcome, [AppliedEntry]) {
        var working = state
        var report = ApplyReport()
        var applied: [AppliedEntry] = []
        let maximumPending = options.maximumPending
        try db.run("SAVEPOINT p2pdb_apply")
        do {
            for entry in entries {
                let outcome: ApplyOutcome
                let result: EntryApplier.Applied?
                if isolateEach {
                    let before = working
                    do {
                        try db.run("SAVEPOINT p2pdb_entry")
                        (outcome, result) = try EntryApplier.apply(entry, db, state: &working, now: now, maximumPending: maximumPending)
                        try db.run("RELEASE p2pdb_entry")
                    } catch {
                        // Disk full, I/O errors: the transaction is gone.
                        guard db.isInsideTransaction else { throw error }
                        try db.execute(sql: "ROLLBACK TO p2pdb_entry; RELEASE p2pdb_entry")
                        working = before
                        report.rejected.append((entry.id, "it cannot be applied: \(StoreErrors.map(error).message)"))
                        continue
                    }
                } else {
                    (outcome, result) = try EntryApplier.apply(entry, db, state: &working, now: now, maximumPending: maximumPending)
                }
                switch outcome {
                case .applied: report.applied += 1
                case .duplicate: report.duplicates += 1
                case .pending: report.pending += 1
                case .rejected(let reason):
                    if atomic {
                        throw P2PDBError(.corrupt, "entry \(entry.id.short) by \(entry.author.short) is refused: \(reason)")
                    }
                    report.rejected.append((entry.id, reason))
                }
                if let result { applied.append(AppliedEntry(position: result.position, entry: result.entry)) }
            }
            if report.applied > 0 {
                let drained = try EntryApplier.drainPending(db, state: &working, now: now, maximumPending: maximumPending)
                if atomic, let (id, reason) = drained.rejected.first {
                    throw P2PDBError(.corrupt, "entry \(id.short) is refused: \(reason)")
                }
                applied += drained.applied.map { AppliedEntry(position: $0.position, entry: $0.entry) }
                report.rejected += drained.rejected
                report.applied = applied.count
                report.pending = working.pendingCount == 0 ? 0 : try entries.filter { try LogStore.isPending(db, id: $0.id) }.count
            }
            try working.saveRowsHash(db)
            let settled = working.ownHistory.settled(held: working.ownSeq)
            if settled != working.ownHistory {
                try settled.save(db)
                working.ownHistory = settled
            }
            try db.run("RELEASE p2pdb_apply")
            state = working
            return (.entries(report), applied)
        } catch {
            if db.isInsideTransaction { try? db.execute(sql: "ROLLBACK TO p2pdb_apply; RELEASE p2pdb_apply") }
            throw error
        }
    }
}
