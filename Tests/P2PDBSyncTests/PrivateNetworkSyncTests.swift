import Foundation
import P2PDB
import P2PDBSync
import Testing

/// The peer handshake of a private network: each side shows its network and
/// credential, and a peer without a valid one for the same network is
/// refused, with a log line on both sides that says why.
@Suite("Private network handshake")
struct PrivateNetworkSyncTests {
    let networkKey = NodeKey()
    var descriptor: NetworkDescriptor { NetworkDescriptor(id: NetworkID(key: networkKey), name: "shop") }

    func issue(_ key: NodeKey, _ role: NetworkRole, by issuer: NodeKey? = nil, expiresAt: Int64? = nil) -> Credential {
        Credential.issue(by: issuer ?? networkKey, for: key.nodeID, role: role, issuedAt: SystemClock().now() - 60_000, expiresAt: expiresAt)
    }

    @Test func membersReplicateAndAReaderReceivesEverything() async throws {
        let shop = descriptor
        let cluster = try await TestCluster(count: 3, seeds: { $0 == 0 ? [] : [0] }) { index, key in
            PrivateMembership(network: shop, credential: issue(key, index == 2 ? .reader : .writer))
        }
        defer { Task { await cluster.stop() } }
        try await cluster[0].execute("CREATE TABLE prices (item TEXT PRIMARY KEY, cents INTEGER)")
        #expect(await eventually { (try? await cluster[1].count("prices")) == 0 })
        try await cluster[1].execute("INSERT INTO prices VALUES ('apple', 30)")
        #expect(await eventually { (try? await cluster[2].count("prices")) == 1 })
        #expect(await cluster.waitForConvergence())
        await #expect { try await cluster[2].execute("INSERT INTO prices VALUES ('pear', 1)") } throws: {
            ($0 as? P2PDBError)?.kind == .forbidden
        }
        #expect(try await cluster[2].count("prices") == 1)
        await cluster.stop()
    }

    /// Every way of not belonging, each refused with its reason.
    @Test(arguments: ["open mode", "no credential", "another network", "expired", "forged", "another node's"])
    func aNodeWithoutAValidCredentialIsRefused(_ kind: String) async throws {
        let shop = descriptor
        let otherKey = NodeKey()
        let logs = LogCapture()
        let cluster = try await TestCluster(count: 2, seeds: { $0 == 1 ? [0] : [] }, logs: logs) { index, key in
            guard index == 1 else { return PrivateMembership(network: shop, credential: issue(key, .writer)) }
            switch kind {
            case "open mode": return nil
            case "no credential": return PrivateMembership(network: shop, credential: nil)
            case "another network":
                return PrivateMembership(network: NetworkDescriptor(id: NetworkID(key: otherKey), name: "other"), credential: issue(key, .writer, by: otherKey))
            case "expired": return PrivateMembership(network: shop, credential: issue(key, .writer, expiresAt: SystemClock().now() - 1000))
            case "forged":
                // Signed by another key under this network's ID.
                var bytes = issue(key, .admin, by: otherKey).bytes
                bytes.replaceSubrange(1..<33, with: shop.id.raw.bytes)
                return PrivateMembership(network: shop, credential: try? Credential(bytes: bytes))
            default: return PrivateMembership(network: shop, credential: issue(NodeKey(), .writer))
            }
        }
        defer { Task { await cluster.stop() } }
        let reasons = [
            "open mode": "is in open mode", "no credential": "has no credential", "another network": "belongs to another network",
            "expired": "expired", "forged": "forged", "another node's": "issued to another node",
        ]
        let expected = try #require(reasons[kind])
        #expect(await eventually(timeout: .seconds(20)) { logs.contains(expected) }, "\(logs.lines.withLock { $0 })")
        // Both sides say why: where both refuse each other, each logs its
        // own reason; otherwise the refused node logs the refusal it was sent.
        let otherSide =
            switch kind {
            case "open mode": "this node is in open mode"
            case "another network": "not \"other\""
            default: "refused this node: it"
            }
        #expect(await eventually(timeout: .seconds(20)) { logs.contains(otherSide) }, "\(logs.lines.withLock { $0 })")
        // The dialing node keeps the refusal as the address's last error:
        // its own where it refused first, else the one it was sent.
        let recorded = kind == "open mode" || kind == "another network" ? "this node refused the peer: it " : "the peer refused this node: it "
        let dialer = cluster.members[1].engine
        let kept = await eventually(timeout: .seconds(20)) {
            await dialer.peers().first { $0.address == "node-0" }?.lastError?.hasPrefix(recorded) == true
        }
        let known = await dialer.peers().map { "\($0.address): \($0.lastError ?? "none")" }
        #expect(kept, "\(known)")
        try await cluster[0].execute("CREATE TABLE prices (item TEXT PRIMARY KEY, cents INTEGER)")
        try? await Task.sleep(for: .milliseconds(500))
        #expect(cluster[1].store.summary.entryCount == 0, "nothing reaches a refused node")
        await cluster.stop()
    }
}
