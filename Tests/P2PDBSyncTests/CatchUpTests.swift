import Foundation
import Logging
import P2PDB
import Testing

@testable import P2PDBSync

/// What a node tells of its catch-up: the progress lines of its log, and
/// the status behind `/readyz`.
@Suite("Catch-up progress and readiness")
struct CatchUpTests {
    // The expectation macros cannot call a mutating method themselves.
    static func isNil(_ line: CatchUpProgress.Line?) -> Bool { line == nil }

    @Test func progressLinesTellTheRateWhatIsBehindAndTheTimeLeft() throws {
        var progress = CatchUpProgress(interval: 5000)
        // Behind but not pulling, or pulling and level: no catch-up yet.
        #expect(Self.isNil(progress.line(now: 500, behind: 10_000, pulling: false, peers: 1)))
        #expect(Self.isNil(progress.line(now: 600, behind: 0, pulling: true, peers: 1)))
        #expect(Self.isNil(progress.line(now: 1000, behind: 10_000, pulling: true, peers: 1)))
        progress.applied(1000)
        #expect(Self.isNil(progress.line(now: 5999, behind: 9000, pulling: true, peers: 1)))
        let firstLine = progress.line(now: 6000, behind: 9000, pulling: true, peers: 1)
        let first = try #require(firstLine)
        #expect(
            first.message == "catching up: applied 1000 entries in the last 5.0 s (200 entries/s), 9000 entries behind, about 45.0 s left")
        #expect(first.metadata["entries_per_second"] == "200")
        #expect(first.metadata["entries_behind"] == "9000")
        #expect(first.metadata["estimated_ms_left"] == "45000")

        // Nothing applied for a while (a pull given up, say): no estimate.
        let stalledLine = progress.line(now: 11_000, behind: 9000, pulling: false, peers: 1)
        let stalled = try #require(stalledLine)
        #expect(stalled.message == "catching up: applied 0 entries in the last 5.0 s (0 entries/s), 9000 entries behind, time left unknown: nothing applied")
        #expect(stalled.metadata["estimated_ms_left"] == nil)

        progress.applied(9000)
        let doneLine = progress.line(now: 12_000, behind: 0, pulling: false, peers: 1)
        let done = try #require(doneLine)
        #expect(done.message == "caught up with its peers: applied 10000 entries in 11.0 s")

        // A catch-up shorter than the interval logs nothing at all.
        #expect(Self.isNil(progress.line(now: 13_000, behind: 5, pulling: true, peers: 1)))
        progress.applied(5)
        #expect(Self.isNil(progress.line(now: 13_100, behind: 0, pulling: true, peers: 1)))

        // One cut short by losing the peers says so.
        #expect(Self.isNil(progress.line(now: 20_000, behind: 400_000, pulling: true, peers: 1)))
        progress.applied(100)
        let slowLine = progress.line(now: 25_000, behind: 400_000, pulling: true, peers: 1)
        let slow = try #require(slowLine)
        #expect(slow.message.hasSuffix("about 5 h 33 min left"))
        let cutLine = progress.line(now: 26_000, behind: 0, pulling: false, peers: 0)
        let cut = try #require(cutLine)
        #expect(cut.message == "stopped catching up, no peer being connected: applied 100 entries in 6.0 s")
    }

    @Test func aNodeLogsItsCatchUpWithRateAndEntriesBehind() async throws {
        let network = InProcessNetwork()
        let cluster = try await TestCluster(count: 1, seeds: { _ in [] }, network: network)
        let source = cluster[0]
        try await source.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        // Several pull pages, written 500 at a time so that group commit
        // batches them (the writer's queue takes 1024).
        for batch in 0..<4 {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for id in batch * 500..<(batch + 1) * 500 {
                    group.addTask { _ = try await source.execute("INSERT INTO t VALUES (?, 'x')", [.integer(Int64(id))]) }
                }
                try await group.waitForAll()
            }
        }

        let logs = LogCapture()
        let node = try Node.open(
            DataDirectory(path: cluster.root.appendingPathComponent("late").path), createIfNeeded: true,
            options: StoreOptions(durability: .off))
        var configuration = TestCluster.fastConfiguration(seeds: ["node-0"], deadPeerTimeout: 60_000)
        // Every tick may log: the catch-up lasts a fraction of a second here.
        configuration.progressInterval = 1
        let engine = SyncEngine(
            node: node, transport: network.transport(for: node.nodeID, address: "late"), configuration: configuration,
            logger: logs.logger("late"))
        let task = Task { try await engine.run() }

        #expect(await eventually { node.store.summary.entryCount == 2001 })
        #expect(await eventually { logs.contains("info caught up with its peers: applied ") })
        let lines = logs.lines.withLock { $0 }
        let progress = lines.filter { $0.hasPrefix("info catching up: applied ") }
        #expect(!progress.isEmpty, "\(lines)")
        #expect(progress.allSatisfy { $0.contains(" entries/s), ") && $0.contains(" entries behind, ") }, "\(progress)")
        #expect(progress.contains { $0.contains(" left") && !$0.contains("unknown") }, "\(progress)")
        #expect(await engine.catchUpStatus() == CatchUpStatus(entriesBehind: 0, peers: 1, awaitingVector: 0))

        task.cancel()
        _ = try? await task.value
        try await node.close()
        await cluster.stop()
    }

    @Test func catchUpStatusFollowsThePeersVersionVectors() async throws {
        let network = InProcessNetwork()
        let cluster = try await TestCluster(count: 1, seeds: { _ in [] }, network: network, deadPeerTimeout: 60_000)
        let engine = cluster.members[0].engine
        #expect(await engine.catchUpStatus() == CatchUpStatus(entriesBehind: 0, peers: 0, awaitingVector: 0))

        // A peer played by hand: established, its vector not yet sent.
        let peer = NodeKey()
        let connection = try await SyncTests.dial("node-0", from: network.transport(for: peer.nodeID, address: "peer"))
        try await connection.send(.hello(Hello(nodeID: peer.nodeID, listenAddress: nil)))
        #expect(await eventually { await engine.catchUpStatus() == CatchUpStatus(entriesBehind: 0, peers: 1, awaitingVector: 1) })

        // It claims seven entries of an author this node has never heard of,
        // and never answers the pull.
        try await connection.send(.summary(versionVector: VersionVector([NodeKey().nodeID: 7]), heads: []))
        #expect(await eventually { await engine.catchUpStatus() == CatchUpStatus(entriesBehind: 7, peers: 1, awaitingVector: 0) })

        connection.close()
        #expect(await eventually { await engine.catchUpStatus() == CatchUpStatus(entriesBehind: 0, peers: 0, awaitingVector: 0) })
        await cluster.stop()
    }
}
