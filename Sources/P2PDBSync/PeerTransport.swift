import P2PDB

/// One authenticated, ordered, reliable stream of messages to a peer.
///
/// The transport proves `remoteNodeID` during its handshake (TLS with the
/// node key, for the gRPC transport); the sync engine checks that the
/// peer's Hello names the same node.
public protocol PeerConnection: AnyObject, Sendable {
    var remoteNodeID: NodeID { get }
    /// The address the connection was made to or came from.
    var remoteAddress: String { get }
    /// True if the peer dialed us.
    var isInbound: Bool { get }
    /// Messages from the peer, in order; ends when the connection closes.
    var inbound: MessageQueue.Messages { get }
    /// Sends a message, waiting while the peer is slow to read.
    func send(_ message: SyncMessage) async throws
    /// Queues a message without waiting; false if the queue is full and the
    /// message was dropped (gossip can afford that: anti-entropy repairs it).
    func offer(_ message: SyncMessage) -> Bool
    func close()
}

/// How a node reaches others and is reached: gRPC over TLS in production,
/// in-process channels in tests and the simulator.
public protocol PeerTransport: Sendable {
    /// Where peers can dial this node, once ``run(accept:)`` listens.
    var listenAddress: String? { get async }
    /// Dials a peer and completes the authenticated handshake; a failure
    /// says why in the terms of ``DialFailure``, whatever the network.
    func connect(to address: String) async throws(DialFailure) -> any PeerConnection
    /// Accepts connections until cancelled, handing each to `accept`.
    func run(accept: @escaping @Sendable (any PeerConnection) async -> Void) async throws
}
