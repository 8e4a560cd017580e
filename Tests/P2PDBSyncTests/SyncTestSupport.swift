import Foundation
import Logging
import P2PDB
import P2PDBSync
import Testing

/// Nodes in temporary directories, each with a sync engine on an
/// in-process network; everything is stopped and removed at the end.
final class TestCluster: Sendable {
    struct Member: Sendable {
        let node: Node
        let engine: SyncEngine
        let address: String
        let task: Task<Void, any Error>
    }

    let network: InProcessNetwork
    let root: URL
    let members: [Member]

    static func fastConfiguration(seeds: [String], deadPeerTimeout: UInt64 = 3000) -> SyncConfiguration {
        SyncConfiguration(
            seeds: seeds, fanout: 3, antiEntropyInterval: 150, peerExchangeInterval: 300, deadPeerTimeout: deadPeerTimeout,
            minimumBackoff: 50, maximumBackoff: 500, tickInterval: 20)
    }

    /// - Parameter seeds: for each node, the indexes of the nodes it joins.
    /// - Parameter logs: where the engines log, if the test reads their lines.
    /// - Parameter deadPeerTimeout: how long a silent peer is kept; a test
    ///   that plays a peer by hand and sends nothing more raises it, since a
    ///   loaded machine can leave its session unread for seconds.
    /// - Parameter membership: for each node index and key, the private
    ///   network it keeps to and its credential there (nil: open mode).
    init(
        count: Int, seeds: (Int) -> [Int], network: InProcessNetwork = InProcessNetwork(), logs: LogCapture? = nil,
        deadPeerTimeout: UInt64 = 3000, membership: ((Int, NodeKey) -> PrivateMembership?)? = nil
    ) async throws {
        self.network = network
        root = FileManager.default.temporaryDirectory.appendingPathComponent("p2pdb-sync-\(UUID().uuidString)")
        var members: [Member] = []
        for index in 0..<count {
            members.append(
                try Self.start(
                    index, seeds: seeds(index).map { "node-\($0)" }, root: root, network: network, logs: logs, deadPeerTimeout: deadPeerTimeout,
                    membership: membership))
        }
        self.members = members
    }

    static func start(
        _ index: Int, seeds: [String], root: URL, network: InProcessNetwork, logs: LogCapture? = nil, deadPeerTimeout: UInt64 = 3000,
        membership: ((Int, NodeKey) -> PrivateMembership?)? = nil
    ) throws -> Member {
        let directory = DataDirectory(path: root.appendingPathComponent("node-\(index)").path)
        if !directory.isInitialized { try directory.initialize() }
        let joined = membership?(index, try directory.loadKey())
        var options = StoreOptions(durability: .off)
        options.network = joined?.network.id
        options.credential = joined?.credential
        let node = try Node.open(directory, options: options)
        let address = "node-\(index)"
        var logger = logs?.logger("sync-\(index)") ?? Logger(label: "sync-\(index)")
        if logs == nil {
            logger.logLevel = ProcessInfo.processInfo.environment["P2PDB_TEST_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .critical
        }
        var configuration = fastConfiguration(seeds: seeds, deadPeerTimeout: deadPeerTimeout)
        configuration.network = joined?.network
        configuration.credential = joined?.credential
        let engine = SyncEngine(
            node: node, transport: network.transport(for: node.nodeID, address: address), configuration: configuration, logger: logger)
        let task = Task { try await engine.run() }
        return Member(node: node, engine: engine, address: address, task: task)
    }

    subscript(index: Int) -> Node { members[index].node }

    func stop() async {
        for member in members {
            member.task.cancel()
            _ = try? await member.task.value
            try? await member.node.close()
        }
        try? FileManager.default.removeItem(at: root)
    }

    var stateHashes: [StateHash] { members.map { $0.node.store.summary.stateHash } }

    /// Waits until every listed node has the same state hash and log size.
    func waitForConvergence(_ indexes: [Int]? = nil, timeout: Duration = .seconds(60)) async -> Bool {
        let chosen = indexes ?? Array(members.indices)
        return await eventually(timeout: timeout) {
            let summaries = chosen.map { self.members[$0].node.store.summary }
            return Set(summaries.map(\.stateHash)).count == 1 && Set(summaries.map(\.entryCount)).count == 1
        }
    }
}

/// A node's place in a private network, as a test gives it.
struct PrivateMembership {
    var network: NetworkDescriptor
    var credential: Credential?
}

/// Polls `condition` until it holds or `timeout` passes. Generous: the
/// whole suite shares two cores, and a node that converges in a second
/// alone can wait its turn for many under load.
func eventually(timeout: Duration = .seconds(60), _ condition: @Sendable () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(25))
    }
    return await condition()
}

extension Node {
    func count(_ table: String) async throws -> Int64 {
        guard case .integer(let count)? = try await query("SELECT count(*) FROM \(table)").rows.first?.first else { return -1 }
        return count
    }
}

extension Sequence where Element: Sendable {
    func asyncAllSatisfy(_ predicate: (Element) async -> Bool) async -> Bool {
        for element in self where !(await predicate(element)) { return false }
        return true
    }
}
