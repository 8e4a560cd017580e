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

    /// A dead seed retried with backoff is warned about once, again when
    /// its failure changes or after the interval, and again after it has
    /// worked; every failure is recorded with its time.
    @Test func repeatedFailuresWarnOnceInAWhile() {
        var directory = PeerDirectory(selfID: NodeKey().nodeID)
        let seed = "10.0.0.2:7071"
        directory.add(seed, nodeID: nil, source: .seed)
        let noTCP = DialFailure.timedOut("no TCP connection within 10 s")
        let failures: [(DialFailure, UInt64)] = [
            (.connectionRefused, 1_000), (.connectionRefused, 2_000),
            // Another kind of failure is news; another detail of the same
            // kind is not, until the interval has passed.
            (noTCP, 3_000), (.timedOut("TLS completed but no Hello came within 10 s"), 4_000), (noTCP, 63_000), (noTCP, 64_000),
        ]
        var warned: [Bool] = []
        for (failure, now) in failures { warned.append(directory.failed(seed, failure, now: now, warningInterval: 60_000)) }
        #expect(warned == [true, false, true, false, true, false])
        #expect(directory.records[seed]?.lastError == noTCP)
        #expect(directory.records[seed]?.lastErrorAt == 64_000)
        // It worked, then failed the same way: worth a warning again. The
        // error stays on record after the success, with its time.
        directory.connected(seed, nodeID: NodeKey().nodeID)
        #expect(directory.records[seed]?.lastErrorAt == 64_000)
        let again = directory.failed(seed, noTCP, now: 65_000, warningInterval: 60_000)
        #expect(again)
    }

    @Test func anEndedSessionLeavesItsLastContactAndRoundTrip() {
        var directory = PeerDirectory(selfID: NodeKey().nodeID)
        directory.add("10.0.0.2:7071", nodeID: nil, source: .seed)
        directory.heard("10.0.0.2:7071", at: 5_000, roundTrip: 3)
        directory.heard("10.0.0.2:7071", at: 4_000, roundTrip: nil)
        #expect(directory.records["10.0.0.2:7071"]?.lastContact == 5_000)
        #expect(directory.records["10.0.0.2:7071"]?.roundTrip == 3)
    }
}
