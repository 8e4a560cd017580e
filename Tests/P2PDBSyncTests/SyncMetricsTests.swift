import Foundation
import Logging
import MetricsTestKit
import P2PDB
import P2PDBSync
import Testing

/// What a node reports about replication: peers in its status, and the
/// counters and gauges of `/metrics`.
@Suite("Sync status and metrics")
struct SyncMetricsTests {
    @Test func countersFollowWhatCrossedTheNetworkAndStatusNamesThePeer() async throws {
        let network = InProcessNetwork()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("p2pdb-metrics-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        var started: [(Node, SyncEngine)] = []
        let metrics = [TestMetrics(), TestMetrics(), TestMetrics()]
        // Node 2 joins both others, so it hears of each entry twice.
        let seeds = [[], ["node-0"], ["node-0", "node-1"]]
        for index in 0..<3 {
            let node = try Node.open(
                DataDirectory(path: root.appendingPathComponent("node-\(index)").path), createIfNeeded: true,
                options: StoreOptions(durability: .off))
            var logger = Logger(label: "metrics-\(index)")
            logger.logLevel = .critical
            let engine = SyncEngine(
                node: node, transport: network.transport(for: node.nodeID, address: "node-\(index)"),
                // A long dead-peer timeout: on a loaded machine a session closed
                // and opened again would blur what the counters show.
                configuration: TestCluster.fastConfiguration(seeds: seeds[index], deadPeerTimeout: 60_000), metricsFactory: metrics[index],
                logger: logger)
            started.append((node, engine))
        }
        let nodes = started.map(\.0)
        let engines = started.map(\.1)
        let tasks = engines.map { engine in Task { try await engine.run() } }
        defer { for task in tasks { task.cancel() } }

        // Written before the nodes meet: node 1 pulls them.
        _ = try await nodes[0].execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        for index in 0..<5 { _ = try await nodes[0].execute("INSERT INTO t VALUES (?, 'x')", [.integer(Int64(index))]) }
        #expect(await eventually { nodes[1].store.summary.entryCount == 6 })
        // Written after: pushed.
        for index in 5..<8 { _ = try await nodes[0].execute("INSERT INTO t VALUES (?, 'y')", [.integer(Int64(index))]) }
        #expect(await eventually { nodes[1].store.summary.entryCount == 9 })

        #expect(await eventually { metrics[0].counterTotal(label: "p2pdb_sync_entries_sent_total") >= 9 })
        // The counter moves just after the entries land.
        #expect(await eventually { metrics[1].counterTotal(label: "p2pdb_sync_entries_received_total") == 9 })
        // Entries messages count toward the bytes received, not only the rest.
        let entryBytes = try await nodes[0].store.entries(after: 0, limit: .max).reduce(0) { $0 + $1.entry.bytes.count }
        #expect(metrics[1].counterTotal(label: "p2pdb_sync_bytes_received_total") > Int64(entryBytes))
        #expect(metrics[0].counterTotal(label: "p2pdb_sync_bytes_sent_total") > Int64(entryBytes))
        let twoPeers = await eventually { (try? metrics[1].expectGauge("p2pdb_peers_connected").lastValue) == 2 }
        let sessions = await engines[1].peers()
        #expect(
            twoPeers, "last recorded: \(String(describing: try? metrics[1].expectGauge("p2pdb_peers_connected").lastValue)); peers: \(sessions)")
        // What arrived twice was counted as a duplicate, not as received.
        #expect(await eventually { nodes[2].store.summary.entryCount == 9 })
        #expect(await eventually { metrics[2].counterTotal(label: "p2pdb_sync_entries_received_total") == 9 })
        // Whether an entry reaches node 2 from both others depends on timing:
        // a few more entries make it next to certain.
        @Sendable func duplicates() -> Int64 { metrics.reduce(0) { $0 + $1.counterTotal(label: "p2pdb_sync_duplicates_received_total") } }
        for index in 100..<120 where duplicates() == 0 {
            _ = try await nodes[0].execute("INSERT INTO t VALUES (?, 'z')", [.integer(Int64(index))])
            let count = nodes[0].store.summary.entryCount
            _ = await eventually { nodes[2].store.summary.entryCount == count && nodes[1].store.summary.entryCount == count }
        }
        #expect(await eventually { duplicates() > 0 })

        #expect(await eventually { await engines[1].peers().contains { $0.connected && $0.nodeID == nodes[0].nodeID } })
        let peer = try #require(await engines[1].peers().first { $0.nodeID == nodes[0].nodeID })
        #expect(peer.address == "node-0")
        #expect(peer.source == .seed)
        #expect(await eventually { await engines[1].peers().first { $0.connected && $0.nodeID == nodes[0].nodeID }?.entriesBehind == 0 })
        let others: Set = [nodes[1].nodeID, nodes[2].nodeID]
        #expect(await eventually { Set(await engines[0].peers().filter(\.connected).compactMap(\.nodeID)) == others })

        for task in tasks { task.cancel() }
        for task in tasks { _ = try? await task.value }
        for node in nodes { try await node.close() }
    }
}
