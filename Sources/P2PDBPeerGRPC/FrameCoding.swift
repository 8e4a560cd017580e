import Foundation
import P2PDB
import P2PDBSync

/// Converts between the sync engine's messages and the protobuf frames of
/// `Protos/p2pdb_peer.proto`, refusing frames that do not make sense (a
/// node ID that is not 32 bytes, an empty frame).
package enum FrameCoding {
    /// A frame's bytes as they cross the wire, decoded and checked; nil for
    /// a kind of frame that a newer build sends and this one does not know.
    package static func decode(_ bytes: [UInt8]) throws -> SyncMessage? {
        try message(P2pdb_Peer_V1_Frame(serializedBytes: bytes))
    }

    package static func encode(_ message: SyncMessage) throws -> [UInt8] {
        try frame(message).serializedBytes()
    }

    static func frame(_ message: SyncMessage) -> P2pdb_Peer_V1_Frame {
        var frame = P2pdb_Peer_V1_Frame()
        switch message {
        case .hello(let hello):
            frame.hello = .with {
                $0.protocolVersion = hello.protocolVersion
                $0.features = hello.features
                $0.nodeID = Data(hello.nodeID.raw.bytes)
                $0.listenAddress = hello.listenAddress ?? ""
                $0.network = hello.network.map { Data($0.raw.bytes) } ?? Data()
                $0.credential = hello.credential.map { Data($0) } ?? Data()
            }
        case .summary(let vector, let heads):
            frame.summary = .with {
                $0.vector = items(vector)
                $0.heads = heads.map { Data($0.raw.bytes) }
            }
        case .pull(let have):
            frame.pull = .with { $0.have = items(have) }
        case .entries(let bodies):
            frame.entries = .with { $0.entries = bodies.map { Data($0) } }
        case .pullDone:
            frame.pullDone = P2pdb_Peer_V1_PullDone()
        case .want(let ids):
            frame.want = .with { $0.ids = ids.map { Data($0.raw.bytes) } }
        case .peers(let peers):
            frame.peers = .with {
                $0.peers = peers.map { peer in
                    .with {
                        $0.nodeID = Data(peer.nodeID.raw.bytes)
                        $0.address = peer.address
                    }
                }
            }
        case .refusal(let reason):
            frame.refusal = .with { $0.reason = reason }
        case .ping(let nonce):
            frame.ping = .with { $0.nonce = nonce }
        case .pong(let nonce):
            frame.pong = .with { $0.nonce = nonce }
        }
        return frame
    }

    static func message(_ frame: P2pdb_Peer_V1_Frame) throws(P2PDBError) -> SyncMessage? {
        switch frame.kind {
        case .hello(let hello):
            var network: NetworkID?
            if !hello.network.isEmpty {
                guard let raw = Bytes32(Array(hello.network)) else {
                    throw P2PDBError(.corrupt, "a peer sent a network ID of \(hello.network.count) bytes, not 32")
                }
                network = NetworkID(raw)
            }
            return .hello(
                Hello(
                    protocolVersion: hello.protocolVersion, features: hello.features, nodeID: try nodeID(hello.nodeID),
                    listenAddress: hello.listenAddress.isEmpty ? nil : hello.listenAddress, network: network,
                    credential: hello.credential.isEmpty ? nil : Array(hello.credential)))
        case .summary(let summary):
            var heads: [EntryID] = []
            for head in summary.heads { heads.append(try entryID(head)) }
            return .summary(versionVector: try vector(summary.vector), heads: heads)
        case .pull(let pull):
            return .pull(have: try vector(pull.have))
        case .entries(let entries):
            return .entries(entries.entries.map { Array($0) })
        case .pullDone:
            return .pullDone
        case .want(let want):
            var ids: [EntryID] = []
            for id in want.ids { ids.append(try entryID(id)) }
            return .want(ids)
        case .peers(let peers):
            var addresses: [PeerAddress] = []
            for peer in peers.peers { addresses.append(PeerAddress(nodeID: try nodeID(peer.nodeID), address: peer.address)) }
            return .peers(addresses)
        case .refusal(let refusal):
            return .refusal(String(refusal.reason.prefix(SyncLimits.maximumRefusalCharacters)))
        case .ping(let ping):
            return .ping(nonce: ping.nonce)
        case .pong(let pong):
            return .pong(nonce: pong.nonce)
        case nil:
            // A newer build's message arrives as a field this build does not
            // know: skipped, as the protocol's rule for additions says.
            guard frame.unknownFields.data.isEmpty else { return nil }
            throw P2PDBError(.corrupt, "a peer sent an empty frame")
        }
    }

    private static func items(_ vector: VersionVector) -> [P2pdb_Peer_V1_VersionVectorItem] {
        vector.sorted.map { item in
            .with {
                $0.nodeID = Data(item.author.raw.bytes)
                $0.seq = item.seq
            }
        }
    }

    private static func vector(_ items: [P2pdb_Peer_V1_VersionVectorItem]) throws(P2PDBError) -> VersionVector {
        var counts: [NodeID: UInt64] = [:]
        for item in items { counts[try nodeID(item.nodeID)] = item.seq }
        return VersionVector(counts)
    }

    private static func nodeID(_ data: Data) throws(P2PDBError) -> NodeID {
        guard let raw = Bytes32(Array(data)) else { throw P2PDBError(.corrupt, "a peer sent a node ID of \(data.count) bytes, not 32") }
        return NodeID(raw)
    }

    private static func entryID(_ data: Data) throws(P2PDBError) -> EntryID {
        guard let raw = Bytes32(Array(data)) else { throw P2PDBError(.corrupt, "a peer sent an entry ID of \(data.count) bytes, not 32") }
        return EntryID(raw)
    }
}
