import GRPCCore
import P2PDB
import P2PDBSync
import Synchronization

/// A sync session carried by one `Peer.Connect` RPC, on either side.
final class GRPCPeerConnection: PeerConnection {
    let remoteNodeID: NodeID
    let remoteAddress: String
    let isInbound: Bool
    let incoming: MessageQueue
    let outgoing: MessageQueue
    private let onClose: Mutex<(@Sendable () -> Void)?>

    init(remoteNodeID: NodeID, remoteAddress: String, isInbound: Bool, limit: Int, onClose: (@Sendable () -> Void)? = nil) {
        self.remoteNodeID = remoteNodeID
        self.remoteAddress = remoteAddress
        self.isInbound = isInbound
        incoming = MessageQueue(limit: limit)
        outgoing = MessageQueue(limit: limit)
        self.onClose = Mutex(onClose)
    }

    var inbound: MessageQueue.Messages { incoming.messages }
    func send(_ message: SyncMessage) async throws { try await outgoing.send(message) }
    func offer(_ message: SyncMessage) -> Bool { outgoing.offer(message) }

    func close() {
        outgoing.finish()
        incoming.finish()
        onClose.withLock { $0 }?()
    }

    /// Moves frames both ways until either side ends: decoded frames into
    /// `inbound`, queued messages out through `write`.
    func pump(
        frames: some AsyncSequence<P2pdb_Peer_V1_Frame, any Error> & Sendable,
        write: @escaping @Sendable (P2pdb_Peer_V1_Frame) async throws -> Void
    ) async {
        let incoming = self.incoming
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    for try await frame in frames {
                        if let message = try FrameCoding.message(frame) { try await incoming.send(message) }
                    }
                    incoming.finish()
                } catch {
                    incoming.finish(throwing: error)
                }
            }
            do {
                for try await message in outgoing.messages { try await write(FrameCoding.frame(message)) }
            } catch {}
            group.cancelAll()
        }
        close()
    }
}
