import CSQLiteExtras
import Foundation
import GRDB
import P2PDBCore
import Synchronization

/// A replica: one SQLite file holding the replicated tables and the log.
///
/// ```swift
/// let store = try ReplicaStore(path: "node/replica.sqlite", key: key)
/// try await store.execute([SQLRequest("CREATE TABLE items(id TEXT PRIMARY KEY, stock COUNTER INTEGER NOT NULL DEFAULT 0)")])
/// let result = try await store.execute([SQLRequest("INSERT INTO items(id, stock) VALUES (?, ?)", ["apple", 10])])
/// print(result.entry!)          // the signed entry that records the insert
/// let rows = try await store.query(SQLRequest("SELECT * FROM items"))
/// ```
///
/// Writes go through one writer that commits concurrent transactions
/// together (see ``GroupCommitWriter``); reads run on a pool of read-only
/// connections and see the last commit.
public final class ReplicaStore: Sendable {
    public let nodeID: NodeID
    public let path: String
    private let pool: DatabasePool
    private let readers: ReaderConnections
    private let writer: GroupCommitWriter
    let feed = ChangeFeed()
    private let options: StoreOptions
    private let closed = Atomic<Bool>(false)

    /// Opens (creating if needed) the replica file at `path` for the node
    /// whose key is `key`.
    ///
    /// - Parameter newIdentity: whether `key` is new. A replica file created
    ///   for a key that may have written before refuses local writes until
    ///   it has learned how far its node had written (see
    ///   ``learnedOwnHistory(through:)``).
    public init(path: String, key: NodeKey, options: StoreOptions = StoreOptions(), newIdentity: Bool = true) throws {
        self.nodeID = key.nodeID
        self.path = path
        self.options = options
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.maximumReaderCount = 4
        configuration.foreignKeysEnabled = false
        configuration.prepareDatabase { db in
            guard let connection = db.sqliteConnection else { return }
            let code = p2pdb_harden_connection(connection)
            guard code == 0 else { throw P2PDBError(.storage, "could not configure SQLite (code \(code))") }
            try SQLFunctions.install(on: connection)
        }
        let creating = !FileManager.default.fileExists(atPath: path)
        // Before the first connection: connections use the default VFS as
        // it is when they open.
        let installed = p2pdb_temp_budget_install()
        guard installed == 0 else { throw P2PDBError(.storage, "could not install the temporary disk budget (SQLite code \(installed))") }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            // GRDB switches WAL databases to synchronous=NORMAL after the
            // connection is prepared; set the durability afterwards.
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = \(options.durability.pragmaValue)")
                try db.inTransaction(.immediate) {
                    if try InternalSchema.create(db) { try StorageUpgrade.rederive(db, nodeID: key.nodeID) }
                    if creating && !newIdentity { try OwnHistory.unknown.save(db) }
                    return .commit
                }
            }
            let watchdog = StatementWatchdog(limits: options.limits)
            writer = try GroupCommitWriter(pool: pool, key: key, options: options, feed: feed, watchdog: watchdog)
            readers = try ReaderConnections(
                path: path, count: options.limits.readConnections, maximumWaiting: options.limits.maximumWaitingReads,
                configuration: configuration, watchdog: watchdog)
        } catch {
            throw StoreErrors.map(error)
        }
    }

    /// The durability setting SQLite reports on the writer connection:
    /// 2 for FULL, 1 for NORMAL, 0 for OFF.
    public func synchronousSetting() throws -> Int {
        try pool.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") ?? -1 }
    }

    // MARK: SQL

    /// Runs one transaction. A request made only of read-only statements
    /// runs on a reader; anything else goes through the group-commit writer
    /// and returns once its entry is durable.
    public func execute(_ requests: [SQLRequest]) async throws -> TransactionResult {
        try ensureOpen()
        if !(requests.first.map { StatementGuard.startsWithWrite($0.sql) } ?? false), let results = try await readOnly(requests) {
            return TransactionResult(results: results, entry: nil)
        }
        guard case .transaction(let result) = try await writer.submit(.transaction(requests)) else {
            throw P2PDBError(.storage, "the writer answered a transaction with something else")
        }
        return result
    }

    /// Grants roles to or revokes members of the replica's private network,
    /// or restricts who may write to a table, as one signed entry. Only an
    /// admin may; the change takes effect for every entry that follows this
    /// one in the history.
    ///
    /// ```swift
    /// try await store.administer([.grant(node: register, role: .writer), .revoke(node: stolenTill)])
    /// ```
    public func administer(_ changes: [MembershipChange]) async throws -> EntryID {
        try ensureOpen()
        guard !changes.isEmpty, changes.allSatisfy(\.isAdministrative) else {
            throw P2PDBError(.invalidInput, "give at least one grant, revocation or table rule (credentials travel by themselves)")
        }
        guard case .transaction(let result) = try await writer.submit(.membership(changes)), let entry = result.entry else {
            throw P2PDBError(.storage, "the writer answered a membership change with something else")
        }
        return entry
    }

    /// Runs read-only SQL; refuses anything that would write.
    public func query(_ request: SQLRequest) async throws -> [StatementResult] {
        try await query([request])
    }

    /// Runs several requests of read-only SQL on one snapshot. If any
    /// statement would write, throws ``P2PDBError/statementWrites`` before
    /// running it, on a connection that cannot write: nothing changes.
    public func query(_ requests: [SQLRequest]) async throws -> [StatementResult] {
        try ensureOpen()
        guard let results = try await readOnly(requests) else { throw P2PDBError.statementWrites }
        return results
    }

    /// Runs read-only SQL on the calling thread, blocking it: for callers
    /// that are not async, and for the read benchmark.
    public func querySync(_ request: SQLRequest) throws -> [StatementResult] {
        try ensureOpen()
        do {
            let limits = options.limits
            guard let results = try readers.readBlocking({ db, deadline in try deadline.run { try Self.readOnlySnapshot([request], db, limits) } }) else {
                throw P2PDBError.statementWrites
            }
            return results
        } catch {
            throw StoreErrors.map(error)
        }
    }

    /// The results if every statement is read-only, nil if any writes.
    private func readOnly(_ requests: [SQLRequest]) async throws -> [StatementResult]? {
        do {
            let limits = options.limits
            return try await readers.read { db, deadline in try deadline.run { try Self.readOnlySnapshot(requests, db, limits) } }
        } catch {
            throw StoreErrors.map(error)
        }
    }

    /// Runs many reads on one reader connection, taken once: for code that
    /// reads in a loop. Each query sees the last commit at the time it runs.
    ///
    /// ```swift
    /// let names = try store.reading { reader in
    ///     try ids.map { try reader.query(SQLRequest("SELECT name FROM items WHERE id = ?", [$0])) }
    /// }
    /// ```
    public func reading<T>(_ body: (ReadSession) throws -> T) throws -> T {
        try ensureOpen()
        do {
            let limits = options.limits
            return try readers.readBlocking { db, deadline in try body(ReadSession(db: db, deadline: deadline, limits: limits)) }
        } catch {
            throw StoreErrors.map(error)
        }
    }

    /// A reader connection lent to ``reading(_:)``; valid inside it only.
    public struct ReadSession {
        let db: Database
        let deadline: StatementDeadline
        let limits: StatementLimits

        /// Runs read-only SQL; refuses anything that would write.
        public func query(_ request: SQLRequest) throws -> [StatementResult] {
            guard let results = try deadline.run({ try ReplicaStore.readOnly([request], db, limits) }) else {
                throw P2PDBError.statementWrites
            }
            return results
        }
    }

    /// A single statement reads one consistent snapshot by itself; several
    /// share one read transaction. Skipping BEGIN and COMMIT for the common
    /// single SELECT saves two statements per read.
    private static func readOnlySnapshot(
        _ requests: [SQLRequest], _ db: Database, _ limits: StatementLimits
    ) throws -> [StatementResult]? {
        if requests.count == 1, (try? StatementSource.cachedStatement(requests[0].sql, db)) != nil {
            return try readOnly(requests, db, limits)
        }
        var results: [StatementResult]?
        try db.inTransaction(.deferred) {
            results = try readOnly(requests, db, limits)
            return .commit
        }
        return results
    }

    /// Runs read-only SQL as ``query(_:)-(SQLRequest)`` does, on one
    /// snapshot, preparing it anew so that the connection's authorizer
    /// reports every table it reads: for ``observe(_:removingDuplicates:)``.
    func readRecordingTables(_ request: SQLRequest) async throws -> (result: StatementResult, tables: Set<IdentifierKey>) {
        try ensureOpen()
        do {
            let limits = options.limits
            return try await readers.read { db, deadline in
                try deadline.run {
                    guard let authorizer = ClientAuthorizer.of(db) else {
                        throw P2PDBError(.storage, "the reader connection has no authorizer to report the tables a query reads")
                    }
                    var results: [StatementResult]?
                    let (_, tables) = try authorizer.recordingReads {
                        try db.inTransaction(.deferred) {
                            results = try Self.readOnly([request], db, limits, fresh: true)
                            return .commit
                        }
                    }
                    guard let results else { throw P2PDBError.statementWrites }
                    return (results.last { $0.isQuery } ?? StatementResult(), tables)
                }
            }
        } catch {
            throw StoreErrors.map(error)
        }
    }

    private static func readOnly(
        _ requests: [SQLRequest], _ db: Database, _ limits: StatementLimits, fresh: Bool = false
    ) throws -> [StatementResult]? {
        var results: [StatementResult] = []
        var budget = limits.maximumResultBytes
        for request in requests {
            let readOnly = try StatementSource.forEach(request, db, fresh: fresh) { statement, _ in
                guard try StatementGuard.classify(statement.rawSQL) == .plain, statement.isReadonly else { return false }
                results.append(try LocalTransaction.execute(statement, db, budget: &budget, limits: limits))
                return true
            }
            if !readOnly { return nil }
        }
        return results
    }

    // MARK: Entries

    /// Verifies nothing: pass entries whose signatures were checked (decoding
    /// with ``Entry/init(bytes:)`` does). Stores and merges them.
    public func apply(_ entries: [Entry], atomic: Bool = false) async throws -> ApplyReport {
        try ensureOpen()
        guard case .entries(let report) = try await writer.submit(.entries(entries, atomic: atomic)) else {
            throw P2PDBError(.storage, "the writer answered entries with something else")
        }
        return report
    }

    /// Decodes and verifies every entry of a bundle, then applies them all
    /// or none. A bundle also tells this node how far it had written: as
    /// far as the bundle's entries by this node go.
    public func importBundle(_ bytes: [UInt8]) async throws -> ApplyReport {
        let entries = try await ComputeQueue.signatures.run { () throws(P2PDBError) in
            try EntryVerifier.verify(try BundleCodec.decode(bytes))
        }
        let report = try await apply(entries, atomic: true)
        if summary.awaitingOwnHistory {
            try await learnedOwnHistory(through: entries.filter { $0.author == nodeID }.map(\.seq).max() ?? 0)
        }
        return report
    }

    /// Tells a replica that waits for its own earlier entries (see
    /// ``ReplicaSummary/awaitingOwnHistory``) that its node had written up
    /// to `seq`, as a peer's version vector or a bundle shows. Local writes
    /// resume once those entries are all here.
    public func learnedOwnHistory(through seq: UInt64) async throws {
        try ensureOpen()
        _ = try await writer.submit(.ownHistory(through: seq))
    }

    /// Lets local writes resume without learning anything: for a node whose
    /// key never wrote, or whose earlier entries are lost for good. If
    /// another replica holds entries this node signed, its next writes will
    /// conflict with them.
    public func resumeWritesWithoutOwnHistory() async throws {
        try ensureOpen()
        _ = try await writer.submit(.ownHistory(through: nil))
    }

    /// A bundle of the entries not covered by `since` (all when nil), in an
    /// order that applies cleanly.
    public func exportBundle(since: VersionVector? = nil) async throws -> (bytes: [UInt8], count: Int) {
        let bodies = try await read { db -> [[UInt8]] in
            var authors: [Int64: NodeID] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT idx, node_id FROM _p2pdb_authors") {
                if let bytes = (row[1] as DatabaseValue).storage.blobBytes, let raw = Bytes32(bytes) {
                    authors[row[0]] = NodeID(raw)
                }
            }
            var result: [[UInt8]] = []
            let rows = try Row.fetchCursor(db, sql: "SELECT author, seq, body FROM _p2pdb_entries ORDER BY position")
            while let row = try rows.next() {
                if let since, let author = authors[row[0]], since.contains(author: author, seq: UInt64(row[1] as Int64)) {
                    continue
                }
                if let body = (row[2] as DatabaseValue).storage.blobBytes { result.append(body) }
            }
            return result
        }
        return (BundleCodec.encode(bodies), bodies.count)
    }

    /// Entries in arrival order after `position` (0 for the start).
    public func entries(after position: Int64, limit: Int) async throws -> [AppliedEntry] {
        try await read { db in
            try LogStore.bodies(db, after: position, limit: limit).map {
                AppliedEntry(position: $0.0, entry: try Entry(bytes: $0.1, verifySignature: false))
            }
        }
    }

    /// The newest `limit` entries, newest first.
    public func recentEntries(limit: Int) async throws -> [AppliedEntry] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT position, body FROM _p2pdb_entries ORDER BY position DESC LIMIT ?", arguments: [limit])
                .map { row in
                    AppliedEntry(
                        position: row[0],
                        entry: try Entry(bytes: (row[1] as DatabaseValue).storage.blobBytes ?? [], verifySignature: false))
                }
        }
    }

    /// The entry with this ID and its position, if held.
    public func entry(_ id: EntryID) async throws -> AppliedEntry? {
        try await read { db in
            guard let position = try LogStore.position(db, of: id), let body = try LogStore.body(db, id: id) else { return nil }
            return AppliedEntry(position: position, entry: try Entry(bytes: body, verifySignature: false))
        }
    }

    /// The position of an entry in the local log, if held.
    public func position(of id: EntryID) async throws -> Int64? {
        try await read { try LogStore.position($0, of: id) }
    }

    // MARK: Status

    public var summary: ReplicaSummary { writer.summary }

    public func equivocations() async throws -> [Equivocation] {
        try await read { db in
            var byKey: [String: Equivocation] = [:]
            let sql = """
                SELECT a.node_id, e.seq, e.first_id, e.second_id FROM _p2pdb_equivocations e
                JOIN _p2pdb_authors a ON a.idx = e.author ORDER BY a.node_id, e.seq
                """
            for row in try Row.fetchAll(db, sql: sql) {
                guard let author = (row[0] as DatabaseValue).storage.blobBytes.flatMap(Bytes32.init),
                    let first = (row[2] as DatabaseValue).storage.blobBytes.flatMap(Bytes32.init),
                    let second = (row[3] as DatabaseValue).storage.blobBytes.flatMap(Bytes32.init)
                else { continue }
                let seq = UInt64(row[1] as Int64)
                let key = "\(author.hex):\(seq)"
                var item = byKey[key] ?? Equivocation(author: NodeID(author), seq: seq, entries: [])
                for id in [EntryID(first), EntryID(second)] where !item.entries.contains(id) { item.entries.append(id) }
                item.entries.sort()
                byKey[key] = item
            }
            return byKey.values.sorted { ($0.author, $0.seq) < ($1.author, $1.seq) }
        }
    }

    public func pendingCount() async throws -> Int {
        try await read { try LogStore.pendingCount($0) }
    }

    /// A wake-up after each commit from now on, local or remote, once
    /// durable: for a consumer that reads what changed from the log or the
    /// tables itself. Wake-ups that come while it is busy merge into one,
    /// so it never falls behind; `end()` stops them.
    public func commitWakeUps() -> (wakeUps: AsyncStream<Void>, end: @Sendable () -> Void) {
        let (id, wakeUps) = feed.subscribeWakeUps { _ in true }
        let feed = self.feed
        return (wakeUps, { feed.unsubscribeWakeUps(id) })
    }

    /// Entries the replica applies from now on, local or remote, once durable.
    public func changes(bufferSize: Int = 4096) -> AsyncStream<AppliedEntry> {
        feed.subscribe(bufferSize: bufferSize)
    }

    /// The same, one array per commit. A subscriber that falls more than
    /// `bufferSize` commits behind is dropped: its stream ends.
    public func changeBatches(bufferSize: Int = 1024) -> AsyncStream<[AppliedEntry]> {
        feed.subscribeBatches(bufferSize: bufferSize)
    }

    // MARK: Verification

    /// Checks every entry and re-derives the replicated state from the log;
    /// see ``ReplicaVerifier``.
    public func verify() async throws -> VerificationReport {
        do {
            return try await read { db in try ReplicaVerifier(nodeID: self.nodeID).verify(db) }
        } catch {
            throw StoreErrors.map(error)
        }
    }

    /// Rows that break a FOREIGN KEY or CHECK constraint of their table
    /// after merges; see ``ConstraintProblem``. Empty when all hold.
    ///
    /// ```swift
    /// for problem in try await store.constraintProblems() { print(problem) }
    /// // sale_lines (42): product_id refers to a row of products that does not exist
    /// ```
    public func constraintProblems() async throws -> [ConstraintProblem] {
        let schema = summary.schema
        guard schema.hasConstraints else { return [] }
        return try await read { db in try ConstraintReport.problems(db, schema: schema) }
    }

    /// Runs a read on the pool, mapping errors.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try ensureOpen()
        do {
            return try await pool.read(body)
        } catch {
            throw StoreErrors.map(error)
        }
    }

    var isClosed: Bool { closed.load(ordering: .acquiring) }

    private func ensureOpen() throws(P2PDBError) {
        guard !closed.load(ordering: .acquiring) else {
            throw P2PDBError(.unavailable, "the replica is closed; no reads or writes are accepted")
        }
    }

    /// Stops accepting writes, waits for queued ones, and closes the file.
    public func close() async throws {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        await writer.close()
        feed.finishAll()
        try readers.close()
        try pool.close()
    }
}

extension P2PDBError {
    /// What the read-only paths (`ReplicaStore.query`, `querySync`,
    /// `reading`) throw for a statement that would write, so that a caller
    /// can tell it from the other refusals.
    public static let statementWrites = P2PDBError(.refused, "this statement writes; run it as a write")
}
