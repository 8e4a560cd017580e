import Foundation
import P2PDBCore
import P2PDBStorage
import P2PDBTestSupport
import Testing

/// A replica in a temporary directory, removed when the test ends.
final class TestReplica: Sendable {
    let store: ReplicaStore
    let key: NodeKey
    let directory: URL

    init(
        key: NodeKey = NodeKey(), durability: Durability = .off, clock: any WallClock = ManualClock(milliseconds: 1_700_000_000_000),
        maximumPending: Int = 100_000, maximumEntryBytes: Int = 8 << 20, limits: StatementLimits = StatementLimits(),
        network: NetworkID? = nil, credential: Credential? = nil
    ) throws {
        self.key = key
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("p2pdb-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = try ReplicaStore(
            path: directory.appendingPathComponent("replica.sqlite").path, key: key,
            options: Self.options(durability, clock, maximumPending, maximumEntryBytes, limits, network, credential))
    }

    private static func options(
        _ durability: Durability, _ clock: any WallClock, _ maximumPending: Int, _ maximumEntryBytes: Int, _ limits: StatementLimits,
        _ network: NetworkID?, _ credential: Credential?
    ) -> StoreOptions {
        var options = StoreOptions(
            durability: durability, clock: clock, maximumPending: maximumPending, maximumEntryBytes: maximumEntryBytes, limits: limits)
        options.network = network
        options.credential = credential
        return options
    }

    var path: String { store.path }

    deinit { try? FileManager.default.removeItem(at: directory) }

    @discardableResult
    func sql(_ text: String, _ parameters: [Value] = []) async throws -> TransactionResult {
        try await store.execute([SQLRequest(text, parameters)])
    }

    func rows(_ text: String, _ parameters: [Value] = []) async throws -> [[Value]] {
        try await store.query(SQLRequest(text, parameters)).last?.rows ?? []
    }

    func entries() async throws -> [Entry] {
        try await store.entries(after: 0, limit: .max).map(\.entry)
    }

    var stateHash: StateHash { store.summary.stateHash }

    /// Sends every entry this replica holds to `other`.
    func send(to other: TestReplica) async throws {
        _ = try await other.store.apply(try await entries())
    }

    /// Everything a user could see: each table's rows in key order.
    func snapshot() async throws -> [String: [[Value]]] {
        var result: [String: [[Value]]] = [:]
        let tables = try await rows("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE '\\_p2pdb\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite_%'")
        for table in tables {
            guard case .text(let name) = table[0] else { continue }
            result[name] = try await rows("SELECT * FROM \"\(name)\" ORDER BY 1")
        }
        return result
    }
}

/// Exchanges all entries among replicas until nobody learns anything new.
func syncAll(_ replicas: [TestReplica]) async throws {
    for _ in 0..<2 {
        for source in replicas {
            for target in replicas where target !== source { try await source.send(to: target) }
        }
    }
}

/// Fails the test with details if the replicas differ.
func expectConverged(_ replicas: [TestReplica], sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let reference = try await replicas[0].snapshot()
    for replica in replicas.dropFirst() {
        #expect(replica.stateHash == replicas[0].stateHash, sourceLocation: sourceLocation)
        #expect(try await replica.snapshot() == reference, sourceLocation: sourceLocation)
    }
    for replica in replicas {
        let report = try await replica.store.verify()
        #expect(report.problems == [], sourceLocation: sourceLocation)
    }
}

/// The shared seeded generator, for every file of these tests.
typealias SeededGenerator = P2PDBTestSupport.SeededGenerator
