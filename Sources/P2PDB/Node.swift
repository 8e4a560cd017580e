import Foundation
@_exported import P2PDBCore
@_exported import P2PDBStorage

/// A P2PDB node opened on its data directory: the embeddable database.
///
/// ```swift
/// let node = try Node.open(DataDirectory(path: "register-1"), createIfNeeded: true)
/// try await node.execute("CREATE TABLE sales (id TEXT PRIMARY KEY, item TEXT, qty INTEGER)")
/// let result = try await node.execute("INSERT INTO sales VALUES (?, ?, ?)", ["s-1", "apple", 2])
/// print(result.entry!)                       // the signed log entry
/// for await applied in node.changes() { … }  // local and replicated writes
///
/// struct Sale: Codable, Sendable { var id: String; var item: String; var qty: Int }
/// try await node.execute("INSERT INTO sales VALUES (:id, :item, :qty)", record: Sale(id: "s-2", item: "pear", qty: 1))
/// let sales = try await node.query(Sale.self, "SELECT * FROM sales")            // decoded rows
/// for try await totals in node.observe("SELECT sum(qty) FROM sales") { … }      // a live query
/// ```
///
/// Every write is one signed entry, durable before the call returns. Reads
/// run on the local replica and never wait for the network.
public final class Node: Sendable {
    public let directory: DataDirectory
    public let store: ReplicaStore
    private let lock: DirectoryLock

    public var nodeID: NodeID { store.nodeID }

    private init(directory: DataDirectory, store: ReplicaStore, lock: DirectoryLock) {
        self.directory = directory
        self.store = store
        self.lock = lock
    }

    /// Opens the node in `directory`, taking its lock.
    ///
    /// - Parameter createIfNeeded: initialise the directory (new key and
    ///   token) when it is not initialised yet, as `p2pdb serve` does.
    /// - Throws: ``P2PDBError`` `.notInitialized` if the directory has no
    ///   key and `createIfNeeded` is false; `.locked` if another process has
    ///   it open.
    public static func open(_ directory: DataDirectory, createIfNeeded: Bool = false, options: StoreOptions = StoreOptions()) throws -> Node {
        if createIfNeeded && !directory.isInitialized { try directory.initialize() }
        try directory.requireInitialized()
        try directory.secure()
        let key = try directory.loadKey()
        let lock = try DirectoryLock(directory)
        return try opening(directory, key: key, lock: lock, options: options)
    }

    private static func opening(_ directory: DataDirectory, key: NodeKey, lock: DirectoryLock, options: StoreOptions) throws -> Node {
        let fresh = FileManager.default.fileExists(atPath: directory.freshIdentityURL.path)
        let store = try ReplicaStore(
            path: directory.replicaURL.path, key: key, options: try directory.networkOptions(options), newIdentity: fresh)
        if fresh { try? FileManager.default.removeItem(at: directory.freshIdentityURL) }
        return Node(directory: directory, store: store, lock: lock)
    }

    /// Moves the replica file (with its `-wal` and `-shm`) aside to
    /// `replica.damaged-YYYYMMDD-HHMMSS.sqlite` and opens a new, empty one
    /// for the same key, holding the directory's lock throughout. Unless the
    /// key never wrote, the new replica refuses local writes until it learns
    /// how far its node had written (see ``ReplicaStore/learnedOwnHistory(through:)``).
    ///
    /// - Returns: the node, and the path the old replica went to (nil if
    ///   there was none).
    /// - Throws: ``P2PDBError`` `.locked` while another process (`serve`)
    ///   has the directory open.
    public static func openMovingReplicaAside(_ directory: DataDirectory, options: StoreOptions = StoreOptions()) throws -> (Node, String?) {
        try directory.requireInitialized()
        try directory.secure()
        let key = try directory.loadKey()
        let lock = try DirectoryLock(directory)
        var movedTo: String?
        let replica = directory.replicaURL.path
        if FileManager.default.fileExists(atPath: replica) {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = "yyyyMMdd-HHmmss"
            var target = directory.url.appendingPathComponent("replica.damaged-\(formatter.string(from: Date())).sqlite").path
            var attempt = 1
            while FileManager.default.fileExists(atPath: target) {
                attempt += 1
                target = directory.url.appendingPathComponent("replica.damaged-\(formatter.string(from: Date()))-\(attempt).sqlite").path
            }
            // The WAL first: SQLite must never find the main file moved and
            // its WAL left behind for the new replica to replay.
            for suffix in ["-wal", "-shm", ""] where FileManager.default.fileExists(atPath: replica + suffix) {
                guard rename(replica + suffix, target + suffix) == 0 else {
                    throw P2PDBError(.storage, "cannot move \(replica + suffix) aside: \(String(cString: strerror(errno)))")
                }
            }
            movedTo = target
        }
        return (try opening(directory, key: key, lock: lock, options: options), movedTo)
    }

    /// Runs SQL as one transaction: any number of statements separated by
    /// semicolons, parameters consumed in order.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [Value] = []) async throws -> TransactionResult {
        try await store.execute([SQLRequest(sql, parameters)])
    }

    /// Runs several requests as one transaction: all or nothing.
    @discardableResult
    public func transaction(_ requests: [SQLRequest]) async throws -> TransactionResult {
        try await store.execute(requests)
    }

    /// Runs read-only SQL and returns the rows of its last query.
    public func query(_ sql: String, _ parameters: [Value] = []) async throws -> StatementResult {
        let results = try await store.query(SQLRequest(sql, parameters))
        return results.last { $0.isQuery } ?? StatementResult()
    }

    /// Every entry applied from now on, local or from another replica.
    public func changes() -> AsyncStream<AppliedEntry> { store.changes() }

    public func status() async throws -> NodeStatus {
        NodeStatus(
            summary: store.summary, equivocations: try await store.equivocations(),
            pendingEntries: try await store.pendingCount(), network: try directory.networkDescriptor(), credential: try directory.credential())
    }

    /// Finishes queued writes, closes the replica and releases the data
    /// directory for other processes.
    public func close() async throws {
        defer { lock.release() }
        try await store.close()
    }
}

/// What `p2pdb status` reports.
public struct NodeStatus: Sendable {
    public var summary: ReplicaSummary
    public var equivocations: [Equivocation]
    public var pendingEntries: Int
    /// The private network the node keeps to; nil in open mode.
    public var network: NetworkDescriptor?
    /// Its credential there.
    public var credential: Credential?
}
