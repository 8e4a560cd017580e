/// Why an address did not become a session, in words an operator can act
/// on. Transports classify their own errors into it (the gRPC transport
/// reads socket, TLS and gRPC errors), so that the engine, the in-process
/// network and the simulator report the same reasons; the engine adds the
/// refusals of the Hello, either way.
public enum DialFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// Nothing listens on that port (the host answered with a reset).
    case connectionRefused
    /// No answer in time: the host is down, a firewall drops packets, or
    /// the peer never finished its handshake.
    case timedOut(String)
    /// The name does not resolve, or no route leads to the host.
    case unreachable(String)
    /// Something answered, but not the P2PDB peer protocol: no TLS, no
    /// HTTP/2, no gRPC, or no `Peer.Connect`.
    case notAPeer(String)
    /// The TLS handshake failed: a certificate not bound to a node key, a
    /// version other than 1.3, or the peer refused this node's certificate.
    case tlsFailed(String)
    /// The peer sent a Refusal: another network, a missing, expired or
    /// forged credential, its peer limit.
    case refusedByPeer(String)
    /// This node refused the peer's Hello (another network, an old
    /// protocol version, a node ID other than the one TLS proved).
    case refusedByThisNode(String)
    /// Anything else, as the transport said it.
    case other(String)

    /// The kind of failure without its details: a change of kind is worth a
    /// new warning, a change of detail is not.
    public var kind: String {
        switch self {
        case .connectionRefused: "connection refused"
        case .timedOut: "timed out"
        case .unreachable: "host not found or unreachable"
        case .notAPeer: "not a P2PDB peer"
        case .tlsFailed: "TLS handshake failed"
        case .refusedByPeer: "the peer refused this node"
        case .refusedByThisNode: "this node refused the peer"
        case .other: "failed"
        }
    }

    public var description: String {
        switch self {
        case .connectionRefused: "connection refused (nothing listens on that port)"
        case .other(let detail): detail
        case .timedOut(let detail), .unreachable(let detail), .notAPeer(let detail), .tlsFailed(let detail), .refusedByPeer(let detail),
            .refusedByThisNode(let detail):
            "\(kind): \(detail)"
        }
    }
}
