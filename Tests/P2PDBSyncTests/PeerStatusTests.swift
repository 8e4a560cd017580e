import Foundation
import P2PDB
import P2PDBSync
import Testing

/// What a node reports of each address it knows: its last error, its last
/// contact and the round trip, on the in-process network.
@Suite("Peer status")
struct PeerStatusTests {
    /// Wall times as the engine reports them: between `since` and now.
    static func isRecent(_ milliseconds: Int64?, since: Int64) -> Bool {
        guard let milliseconds else { return false }
        return milliseconds >= since - 1000 && milliseconds <= SystemClock().now() + 1000
    }

    @Test func aSeedNobodyListensOnIsRecordedAndWarnedAboutOnce() async throws {
        let started = SystemClock().now()
        let logs = LogCapture()
        // node-7 does not exist: every dial of it is refused.
        let cluster = try await TestCluster(count: 1, seeds: { _ in [7] }, logs: logs)
        defer { Task { await cluster.stop() } }
        let engine = cluster.members[0].engine
        #expect(await eventually { await engine.peers().first { $0.address == "node-7" }?.lastError != nil })
        let peer = try #require(await engine.peers().first { $0.address == "node-7" })
        #expect(!peer.connected)
        #expect(peer.lastError == "connection refused (nothing listens on that port)")
        #expect(Self.isRecent(peer.lastErrorAt, since: started))
        #expect(peer.lastContact == nil)
        #expect(peer.roundTripMilliseconds == nil)
        // Retried with backoff; the retries after the first warning are
        // debug lines, not more warnings.
        #expect(await eventually { logs.contains("debug cannot reach peer node-7 (attempt 3)") }, "\(logs.lines.withLock { $0 })")
        let warnings = logs.lines.withLock { $0.filter { $0.hasPrefix("warning cannot reach peer node-7") } }
        let first = "warning cannot reach peer node-7 (attempt 1): connection refused (nothing listens on that port); retrying with backoff"
        #expect(warnings == [first])
        await cluster.stop()
    }

    @Test func aConnectedPeerShowsItsRoundTripAndLastContactAndKeepsThemWhenCut() async throws {
        let started = SystemClock().now()
        let cluster = try await TestCluster(count: 2, seeds: { $0 == 1 ? [0] : [] })
        defer { Task { await cluster.stop() } }
        let dialer = cluster.members[1].engine
        let listener = cluster.members[0].engine
        // Both sides ping: the one that dialed and the one that accepted.
        #expect(await eventually { await dialer.peers().first { $0.address == "node-0" && $0.connected }?.roundTripMilliseconds != nil })
        #expect(await eventually { await listener.peers().first { $0.connected }?.roundTripMilliseconds != nil })
        let connected = try #require(await dialer.peers().first { $0.address == "node-0" })
        #expect(Self.isRecent(connected.lastContact, since: started))
        #expect(connected.lastError == nil)

        cluster.network.cut("node-0", "node-1")
        #expect(await eventually { await dialer.peers().first { $0.address == "node-0" }?.lastError != nil })
        let cut = try #require(await dialer.peers().first { $0.address == "node-0" })
        #expect(!cut.connected)
        #expect(cut.lastError == "host not found or unreachable: the link from node-1 to node-0 is cut")
        #expect(Self.isRecent(cut.lastErrorAt, since: started))
        // What the session knew stays: when the peer was last heard from,
        // and the last round trip.
        #expect(Self.isRecent(cut.lastContact, since: started))
        #expect(cut.roundTripMilliseconds != nil)
        await cluster.stop()
    }
}
