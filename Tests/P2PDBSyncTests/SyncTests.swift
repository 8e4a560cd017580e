import Foundation
import P2PDB
import P2PDBSync
import Testing

@Suite("Replication over an in-process network")
struct SyncTests {
    @Test func threeNodesConvergeUnderConcurrentWrites() async throws {
        let cluster = try await TestCluster(count: 3, seeds: { $0 == 0 ? [] : [0] })
        try await cluster[0].execute("CREATE TABLE sales (id TEXT PRIMARY KEY, register INTEGER, qty INTEGER)")
        try await cluster[0].execute("CREATE TABLE stock (sku TEXT PRIMARY KEY, units COUNTER INTEGER NOT NULL DEFAULT 0)")
        try await cluster[0].execute("INSERT INTO stock VALUES ('apple', 1000)")
        #expect(await cluster.waitForConvergence())
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<3 {
                group.addTask {
                    for n in 0..<40 {
                        try await cluster[index].transaction([
                            SQLRequest("INSERT INTO sales VALUES (?, ?, 1)", [.text("\(index)-\(n)"), .integer(Int64(index))]),
                            SQLRequest("UPDATE stock SET units = units - 1 WHERE sku = 'apple'"),
                        ])
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(await cluster.waitForConvergence())
        for index in 0..<3 {
            #expect(try await cluster[index].count("sales") == 120)
            #expect(try await cluster[index].query("SELECT units FROM stock").rows == [[.integer(880)]])
        }
        await cluster.stop()
    }

    @Test func aLineOfNodesBridgesWrites() async throws {
        let network = InProcessNetwork()
        // A - B - C: A and C may never meet, even through peer exchange.
        network.cut("node-0", "node-2")
        let cluster = try await TestCluster(count: 3, seeds: { $0 == 1 ? [] : [1] }, network: network)
        try await cluster[0].execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        try await cluster[0].execute("INSERT INTO t VALUES (1, 'from a')")
        try await cluster[2].execute("CREATE TABLE IF NOT EXISTS u (id INTEGER PRIMARY KEY)")
        #expect(await cluster.waitForConvergence())
        #expect(try await cluster[2].query("SELECT v FROM t").rows == [[.text("from a")]])
        #expect(await cluster.members[0].engine.connectedPeers == [cluster[1].nodeID])
        #expect(await cluster.members[2].engine.connectedPeers == [cluster[1].nodeID])
        await cluster.stop()
    }

    @Test func partitionedGroupsConvergeWhenHealed() async throws {
        let network = InProcessNetwork()
        let cluster = try await TestCluster(count: 4, seeds: { $0 == 0 ? [] : [0] }, network: network)
        try await cluster[0].execute("CREATE TABLE items (sku TEXT PRIMARY KEY, name TEXT, units COUNTER INTEGER NOT NULL DEFAULT 0)")
        try await cluster[0].execute("INSERT INTO items VALUES ('apple', 'Apple', 10), ('pear', 'Pear', 10)")
        #expect(await cluster.waitForConvergence())
        // Peer exchange has told every node of every other.
        #expect(await eventually { await cluster.members.asyncAllSatisfy { await $0.engine.connectedPeers.count == 3 } })
        let groupA = ["node-0", "node-1"]
        let groupB = ["node-2", "node-3"]
        for a in groupA { for b in groupB { network.cut(a, b) } }
        #expect(await eventually { await cluster.members[2].engine.connectedPeers.isDisjoint(with: [cluster[0].nodeID, cluster[1].nodeID]) })
        try await cluster[0].execute("UPDATE items SET units = units - 3 WHERE sku = 'apple'")
        try await cluster[1].execute("UPDATE items SET name = 'Green apple' WHERE sku = 'apple'")
        try await cluster[2].execute("UPDATE items SET units = units - 4 WHERE sku = 'apple'")
        try await cluster[3].execute("DELETE FROM items WHERE sku = 'pear'")
        #expect(await cluster.waitForConvergence([0, 1]))
        #expect(await cluster.waitForConvergence([2, 3]))
        #expect(cluster.stateHashes[0] != cluster.stateHashes[2])
        for a in groupA { for b in groupB { network.heal(a, b) } }
        #expect(await cluster.waitForConvergence())
        for index in 0..<4 {
            #expect(try await cluster[index].query("SELECT sku, name, units FROM items").rows == [[.text("apple"), .text("Green apple"), .integer(3)]])
        }
        await cluster.stop()
    }

    @Test func aNodeThatWasOffCatchesUpAndAWipedNodeRebuilds() async throws {
        let network = InProcessNetwork()
        let cluster = try await TestCluster(count: 2, seeds: { $0 == 0 ? [] : [0] }, network: network)
        try await cluster[0].execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        for id in 0..<300 { try await cluster[0].execute("INSERT INTO t VALUES (?, 'x')", [.integer(Int64(id))]) }
        #expect(await cluster.waitForConvergence())

        // A third node joins late: it must receive all 301 entries.
        let late = try TestCluster.start(2, seeds: ["node-1"], root: cluster.root, network: network)
        #expect(await eventually { late.node.store.summary.stateHash == cluster[0].store.summary.stateHash })
        #expect(try await late.node.count("t") == 300)
        #expect(late.node.store.summary.entryCount == 301)
        late.task.cancel()
        _ = try? await late.task.value
        try await late.node.close()
        await cluster.stop()
    }

    /// A register restored from a key backup onto an empty disk must not
    /// sign sequence numbers it already used: it learns from a peer first.
    @Test func aNodeThatKeptItsKeyButLostItsReplicaLearnsItsOwnHistoryFirst() async throws {
        let network = InProcessNetwork()
        let cluster = try await TestCluster(count: 1, seeds: { _ in [] }, network: network)
        let original = try TestCluster.start(1, seeds: ["node-0"], root: cluster.root, network: network)
        let nodeID = original.node.nodeID
        try await original.node.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        for id in 0..<5 { try await original.node.execute("INSERT INTO t VALUES (?, 'before')", [.integer(Int64(id))]) }
        #expect(await eventually { cluster[0].store.summary.versionVector[nodeID] == 6 })
        original.task.cancel()
        _ = try? await original.task.value
        try await original.node.close()
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: original.node.directory.replicaURL.path + suffix)
        }

        // Offline, with only its key: it refuses to write.
        let alone = try Node.open(original.node.directory, options: StoreOptions(durability: .off))
        #expect(alone.store.summary.awaitingOwnHistory)
        await #expect(throws: P2PDBError.self) { try await alone.execute("CREATE TABLE u (id INTEGER PRIMARY KEY)") }
        try await alone.close()

        // Back with a peer: it learns it had written up to 6, catches up, writes 7.
        let restored = try TestCluster.start(1, seeds: ["node-0"], root: cluster.root, network: network)
        #expect(await eventually { !restored.node.store.summary.awaitingOwnHistory })
        let result = try await restored.node.execute("INSERT INTO t VALUES (5, 'after')")
        #expect(try await restored.node.store.entry(#require(result.entry))?.entry.seq == 7)
        #expect(await eventually { cluster[0].store.summary.versionVector[nodeID] == 7 })
        #expect(try await cluster[0].status().equivocations.isEmpty)
        restored.task.cancel()
        _ = try? await restored.task.value
        try await restored.node.close()
        await cluster.stop()
    }

    @Test func aPeerWhoseHelloNamesAnotherNodeIsRefused() async throws {
        let network = InProcessNetwork()
        let cluster = try await TestCluster(count: 1, seeds: { _ in [] }, network: network)
        let impostor = NodeKey()
        let victim = NodeKey()
        let connection = try await Self.dial("node-0", from: network.transport(for: impostor.nodeID, address: "impostor"))
        try await connection.send(.hello(Hello(nodeID: victim.nodeID, listenAddress: nil)))
        #expect(await Self.endsWithoutAnswer(connection))
        #expect(await cluster.members[0].engine.connectedPeers.isEmpty)
        await cluster.stop()
    }

    @Test func anOlderProtocolIsRefusedWithALogLineAndANewerPeerIsServed() async throws {
        let logs = LogCapture()
        let network = InProcessNetwork()
        let cluster = try await TestCluster(count: 1, seeds: { _ in [] }, network: network, logs: logs, deadPeerTimeout: 60_000)
        let old = NodeKey()
        let oldConnection = try await Self.dial("node-0", from: network.transport(for: old.nodeID, address: "old"))
        try await oldConnection.send(.hello(Hello(protocolVersion: Hello.minimumProtocolVersion - 1, nodeID: old.nodeID, listenAddress: nil)))
        #expect(await Self.endsWithoutAnswer(oldConnection))
        // The refusal is logged as the connection ends, not before.
        #expect(await eventually { logs.contains("speaks protocol version \(Hello.minimumProtocolVersion - 1)") }, "\(logs.lines.withLock { $0 })")

        // A newer build with a feature this one lacks speaks this one's version.
        let newer = NodeKey()
        let connection = try await Self.dial("node-0", from: network.transport(for: newer.nodeID, address: "newer"))
        try await connection.send(
            .hello(Hello(protocolVersion: Hello.currentProtocolVersion + 1, features: Hello.supportedFeatures + ["future-v9"], nodeID: newer.nodeID, listenAddress: nil)))
        var inbound = connection.inbound.makeAsyncIterator()
        guard case .hello(let hello)? = try await inbound.next(), case .summary? = try await inbound.next() else {
            Issue.record("the newer peer got no hello and summary; the node logged: \(logs.lines.withLock { $0 })")
            return
        }
        #expect(hello.nodeID == cluster[0].nodeID)
        #expect(await eventually { await cluster.members[0].engine.connectedPeers.count == 1 })
        _ = try await cluster[0].execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        connection.close()
        await cluster.stop()
    }

    static func dial(_ address: String, from transport: any PeerTransport) async throws -> any PeerConnection {
        for _ in 0..<200 {
            if let connection = try? await transport.connect(to: address) { return connection }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw P2PDBError(.unavailable, "could not reach \(address)")
    }

    /// True once the other side closes the session without accepting it
    /// (it sends its Hello at once, and a summary only to a peer it accepted).
    static func endsWithoutAnswer(_ connection: any PeerConnection) async -> Bool {
        do {
            for try await message in connection.inbound {
                if case .summary = message { return false }
            }
        } catch {}
        return true
    }
}
