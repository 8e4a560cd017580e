import Foundation
import P2PDB
import P2PDBServer
import Synchronization
import Testing

/// `GET /readyz`: whether the node has caught up with its peers.
@Suite("Readiness")
struct ReadinessTests {
    /// A sync engine stand-in whose catch-up status the test sets.
    final class SetPeers: PeerStatusProvider {
        let status = Mutex(CatchUpStatus(entriesBehind: 0, peers: 0, awaitingVector: 0))
        func peers() async -> [PeerStatus] { [] }
        func catchUpStatus() async -> CatchUpStatus { status.withLock { $0 } }
    }

    @Test func aNodeAloneIsReadyAndNeedsNoToken() async throws {
        let server = try await TestServer()
        let ready = try await server.request("GET", "/readyz", token: .some(nil))
        #expect(ready.status == 200)
        #expect(
            ready.json
                == .object([("ready", .bool(true)), ("entries_behind", .integer(0)), ("pending_entries", .integer(0)), ("peers", .integer(0))]))
        try await server.stop()
    }

    @Test func aNodeBehindItsPeersOrAwaitingTheirVectorsIsNotReady() async throws {
        let peers = SetPeers()
        peers.status.withLock { $0 = CatchUpStatus(entriesBehind: 12, peers: 2, awaitingVector: 1) }
        let server = try await TestServer(peers: peers)
        let behind = try await server.request("GET", "/readyz", token: .some(nil))
        #expect(behind.status == 503)
        #expect(
            behind.json
                == .object([
                    ("ready", .bool(false)), ("entries_behind", .integer(12)), ("pending_entries", .integer(0)), ("peers", .integer(2)),
                    ("reason", .string("entries behind its peers: 12")),
                ]))

        peers.status.withLock { $0 = CatchUpStatus(entriesBehind: 0, peers: 2, awaitingVector: 1) }
        let awaiting = try await server.request("GET", "/readyz", token: .some(nil))
        #expect(awaiting.status == 503)
        #expect(awaiting.json?["reason"]?.stringValue == "peers whose version vector has not arrived: 1 of 2")

        peers.status.withLock { $0 = CatchUpStatus(entriesBehind: 0, peers: 2, awaitingVector: 0) }
        let ready = try await server.request("GET", "/readyz", token: .some(nil))
        #expect(ready.status == 200)
        #expect(ready.json?["ready"] == .bool(true))
        #expect(ready.json?["peers"] == .integer(2))
        #expect(ready.json?["reason"] == nil)
        try await server.stop()
    }

    @Test func aNodeHoldingEntriesThatWaitForTheirParentsIsNotReady() async throws {
        let server = try await TestServer()
        let other = try Node.open(
            DataDirectory(path: server.directory.path + "-other"), createIfNeeded: true, options: StoreOptions(durability: .off))
        defer { try? FileManager.default.removeItem(atPath: server.directory.path + "-other") }
        _ = try await other.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        let child = try #require(try await other.execute("INSERT INTO t VALUES (1)").entry)
        let entry = try #require(try await other.store.entry(child)?.entry)
        try await other.close()

        // The child without its parent waits in the replica.
        #expect(try await server.node.store.apply([entry]).pending == 1)
        let waiting = try await server.request("GET", "/readyz", token: .some(nil))
        #expect(waiting.status == 503)
        #expect(waiting.json?["pending_entries"] == .integer(1))
        #expect(waiting.json?["reason"]?.stringValue == "entries waiting for their parents: 1")
        try await server.stop()
    }
}
