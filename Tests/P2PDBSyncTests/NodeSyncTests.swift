import Foundation
import P2PDB
import P2PDBReplication
import P2PDBTestSupport
import Testing

/// `node.startSync` / `stopSync` / `peers`: replication from the library
/// alone, over the real gRPC transport on loopback.
@Suite("Sync in the library")
struct NodeSyncTests {
    @Test func twoEmbeddedNodesReplicateAndStop() async throws {
        let temp = try TemporaryDirectory()
        let a = try Node.open(DataDirectory(path: temp.path("a")), createIfNeeded: true)
        let b = try Node.open(DataDirectory(path: temp.path("b")), createIfNeeded: true)
        let port = try freePort()
        try await a.execute("CREATE TABLE sales (id TEXT PRIMARY KEY, qty INTEGER)")
        try await a.execute("INSERT INTO sales VALUES ('s-1', 2)")
        try await a.startSync(SyncOptions(listen: "127.0.0.1:\(port)"))
        try await b.startSync(SyncOptions(join: ["127.0.0.1:\(port)"]))
        #expect(a.isSyncing && b.isSyncing)
        await #expect(throws: P2PDBError.self) { try await a.startSync(SyncOptions(listen: "127.0.0.1:0")) }

        // b receives a's history, then a's later write, through a live query.
        #expect(await eventually(timeout: .seconds(30)) { (try? await b.query("SELECT count(*) FROM sales"))?.rows == [[.integer(1)]] })
        var totals = b.observe(Int.self, "SELECT coalesce(sum(qty), 0) FROM sales").makeAsyncIterator()
        try await a.execute("INSERT INTO sales VALUES ('s-2', 5)")
        var seen: [Int] = []
        while seen.last != 7, let next = try await totals.next() { seen = next }
        #expect(seen == [7])

        var peers = b.peers.makeAsyncIterator()
        var connected = false
        for _ in 0..<30 where !connected {
            connected = (await peers.next())?.contains { $0.connected && $0.nodeID == a.nodeID } == true
        }
        #expect(connected)

        await b.stopSync()
        #expect(!b.isSyncing)
        // The peer list changes once more when replication stops: to none.
        var afterStop: [PeerStatus]?
        for _ in 0..<5 where afterStop != [] { afterStop = await peers.next() }
        #expect(afterStop == [])
        // Writes go on locally without replication.
        try await b.execute("INSERT INTO sales VALUES ('s-3', 1)")
        await a.stopSync()
        try await a.close()
        try await b.close()
    }

    @Test func badOptionsAreRefusedBeforeAnythingStarts() async throws {
        let temp = try TemporaryDirectory()
        let node = try Node.open(DataDirectory(path: temp.path("n")), createIfNeeded: true)
        for options in [SyncOptions(), SyncOptions(listen: "nowhere"), SyncOptions(join: ["a:1"], fanout: 0), SyncOptions(join: ["a:1"], mdns: true)] {
            await #expect(throws: P2PDBError.self) { try await node.startSync(options) }
            #expect(!node.isSyncing)
        }
        try await node.close()
    }
}
