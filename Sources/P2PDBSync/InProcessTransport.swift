import P2PDB
import Synchronization

/// A network inside one process: nodes listen on names, dial each other,
/// and exchange messages without sockets. Links can be cut and healed to
/// make partitions. Identities are taken as given: authentication is the
/// real transport's job.
///
/// ```swift
/// let network = InProcessNetwork()
/// let a = SyncEngine(node: nodeA, transport: network.transport(for: nodeA.nodeID, address: "a"))
/// network.cut("a", "b")      // a partition
/// network.heal("a", "b")
/// ```
public final class InProcessNetwork: Sendable {
    private struct State {
        var listeners: [String: Listener] = [:]
        var cuts = Set<Link>()
        var connections: [Link: [InProcessConnection]] = [:]
    }

    struct Listener {
        let nodeID: NodeID
        let accept: @Sendable (any PeerConnection) async -> Void
    }

    private struct Link: Hashable {
        let a: String
        let b: String
        init(_ first: String, _ second: String) {
            (a, b) = first < second ? (first, second) : (second, first)
        }
    }

    private let state = Mutex(State())
    /// The most messages queued on one side of a connection before `offer`
    /// drops and `send` waits.
    let queueLimit: Int

    public init(queueLimit: Int = 4096) { self.queueLimit = queueLimit }

    public func transport(for nodeID: NodeID, address: String) -> InProcessTransport {
        InProcessTransport(network: self, nodeID: nodeID, address: address)
    }

    /// Cuts the link between two addresses: open connections close, dials fail.
    public func cut(_ first: String, _ second: String) {
        let link = Link(first, second)
        let dropped = state.withLock { state in
            state.cuts.insert(link)
            return state.connections.removeValue(forKey: link) ?? []
        }
        for connection in dropped { connection.close() }
    }

    public func heal(_ first: String, _ second: String) {
        _ = state.withLock { $0.cuts.remove(Link(first, second)) }
    }

    func listen(_ address: String, _ listener: Listener) {
        state.withLock { $0.listeners[address] = listener }
    }

    func stopListening(_ address: String) {
        let dropped = state.withLock { state in
            state.listeners[address] = nil
            let links = state.connections.keys.filter { $0.a == address || $0.b == address }
            return links.flatMap { state.connections.removeValue(forKey: $0) ?? [] }
        }
        for connection in dropped { connection.close() }
    }

    /// Fails as a real network would: a cut link is unreachable, an
    /// address nobody listens on refuses the connection.
    func connect(from nodeID: NodeID, at address: String, to target: String) async throws(DialFailure) -> any PeerConnection {
        let link = Link(address, target)
        let (cut, found): (Bool, Listener?) = state.withLock { state in
            (state.cuts.contains(link), state.listeners[target])
        }
        guard !cut else { throw .unreachable("the link from \(address) to \(target) is cut") }
        guard let listener = found else { throw .connectionRefused }
        let (outbound, inbound) = InProcessConnection.pair(
            dialer: nodeID, dialerAddress: address, listener: listener.nodeID, listenerAddress: target, limit: queueLimit)
        state.withLock { $0.connections[link, default: []] += [outbound, inbound] }
        await listener.accept(inbound)
        return outbound
    }
}

/// One node's endpoint on an ``InProcessNetwork``.
public final class InProcessTransport: PeerTransport {
    let network: InProcessNetwork
    let nodeID: NodeID
    let address: String

    init(network: InProcessNetwork, nodeID: NodeID, address: String) {
        self.network = network
        self.nodeID = nodeID
        self.address = address
    }

    public var listenAddress: String? { address }

    public func connect(to address: String) async throws(DialFailure) -> any PeerConnection {
        try await network.connect(from: nodeID, at: self.address, to: address)
    }

    public func run(accept: @escaping @Sendable (any PeerConnection) async -> Void) async throws {
        network.listen(address, InProcessNetwork.Listener(nodeID: nodeID, accept: accept))
        defer { network.stopListening(address) }
        while !Task.isCancelled {
            try await Task.sleep(for: .seconds(3600))
        }
    }
}

/// One side of an in-process connection: what one side sends is the other
/// side's inbound stream.
final class InProcessConnection: PeerConnection {
    let remoteNodeID: NodeID
    let remoteAddress: String
    let isInbound: Bool
    private let incoming: MessageQueue
    private let outgoing: MessageQueue

    private init(remoteNodeID: NodeID, remoteAddress: String, isInbound: Bool, incoming: MessageQueue, outgoing: MessageQueue) {
        self.remoteNodeID = remoteNodeID
        self.remoteAddress = remoteAddress
        self.isInbound = isInbound
        self.incoming = incoming
        self.outgoing = outgoing
    }

    static func pair(
        dialer: NodeID, dialerAddress: String, listener: NodeID, listenerAddress: String, limit: Int
    ) -> (InProcessConnection, InProcessConnection) {
        let toListener = MessageQueue(limit: limit)
        let toDialer = MessageQueue(limit: limit)
        return (
            InProcessConnection(
                remoteNodeID: listener, remoteAddress: listenerAddress, isInbound: false, incoming: toDialer, outgoing: toListener),
            InProcessConnection(
                remoteNodeID: dialer, remoteAddress: dialerAddress, isInbound: true, incoming: toListener, outgoing: toDialer)
        )
    }

    var inbound: MessageQueue.Messages { incoming.messages }
    func send(_ message: SyncMessage) async throws { try await outgoing.send(message) }
    func offer(_ message: SyncMessage) -> Bool { outgoing.offer(message) }

    func close() {
        outgoing.finish()
        incoming.finish()
    }
}
