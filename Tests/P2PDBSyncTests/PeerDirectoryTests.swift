import P2PDB
import Testing

@testable import P2PDBSync

@Suite("Peer directory")
struct PeerDirectoryTests {
    @Test func aClaimNeitherHidesAnAddressNorOverridesAProof() {
        let me = NodeKey().nodeID
        let hostile = NodeKey().nodeID
        let honest = NodeKey().nodeID
        var directory = PeerDirectory(selfID: me)
        // A connected hostile peer tags an honest address with its own ID.
        directory.add("10.0.0.2:7071", nodeID: hostile, source: .exchange)
        #expect(directory.due(now: 0, connectedNodes: [hostile]) == ["10.0.0.2:7071"])
        #expect(directory.shareable.isEmpty, "an unproven claim was passed on")

        // Dialing it proves who is there; later claims do not change that.
        directory.connected("10.0.0.2:7071", nodeID: honest)
        directory.add("10.0.0.2:7071", nodeID: hostile, source: .exchange)
        #expect(directory.records["10.0.0.2:7071"]?.nodeID == honest)
        #expect(directory.shareable == [PeerAddress(nodeID: honest, address: "10.0.0.2:7071")])

        // A proven address of a node connected elsewhere is not dialed again.
        directory.add("10.0.0.3:7071", nodeID: nil, source: .seed)
        directory.proven("10.0.0.3:7071", nodeID: honest)
        #expect(directory.due(now: 0, connectedNodes: [honest]) == [])
        #expect(directory.due(now: 0, connectedNodes: []) == ["10.0.0.3:7071"])
    }
}
