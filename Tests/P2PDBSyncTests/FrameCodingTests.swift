import P2PDB
import P2PDBSync
import Testing

@testable import P2PDBPeerGRPC

@Suite("Peer frames")
struct FrameCodingTests {
    @Test func everyMessageRoundTrips() throws {
        let node = NodeKey().nodeID
        let head = try #require(Bytes32([UInt8](repeating: 7, count: 32)))
        let wanted = try #require(Bytes32([UInt8](repeating: 9, count: 32)))
        let messages: [SyncMessage] = [
            .hello(Hello(nodeID: node, listenAddress: "127.0.0.1:7071")),
            .hello(
                Hello(
                    nodeID: node, listenAddress: nil, network: NetworkID(key: NodeKey()),
                    credential: Credential.issue(by: NodeKey(), for: node, role: .writer, issuedAt: 1, expiresAt: nil).bytes)),
            .summary(versionVector: VersionVector([node: 3]), heads: [EntryID(head)]),
            .pull(have: VersionVector([node: 1])),
            .entries([[1, 2, 3]]),
            .pullDone,
            .want([EntryID(wanted)]),
            .peers([PeerAddress(nodeID: node, address: "10.0.0.2:7071")]),
            .refusal("it has no credential for network \"shop\""),
            .ping(nonce: 1_234_567),
            .pong(nonce: .max),
        ]
        for message in messages {
            #expect(try FrameCoding.decode(try FrameCoding.encode(message)) == message)
        }
    }

    @Test func aFrameOfAKindFromANewerBuildIsSkippedAndAnEmptyOneRefused() throws {
        // Field 20, length-delimited, empty: a message kind this build lacks.
        #expect(try FrameCoding.decode([0xA2, 0x01, 0x00]) == nil)
        #expect(throws: P2PDBError.self) { _ = try FrameCoding.decode([]) }
    }
}
