/// What an entry says about the members of a private network.
///
/// A node's first entry carries its own credential, so that every replica,
/// relayed by whoever, learns what the author may do from the author's
/// history itself: an author's entries form a chain, and its first entry is
/// in the causal past of all the others. Admins grant roles and revoke
/// members with entries of their own, which take effect for every entry
/// that has them in its causal past.
public enum MembershipChange: Hashable, Sendable {
    /// The author's credential, signed by the network key.
    case credential(Credential)
    /// An admin gives `node` a role: admits it, or changes its role. It
    /// also re-admits a node revoked earlier in the history.
    case grant(node: NodeID, role: NetworkRole)
    /// An admin removes `node` from the network: entries that follow this
    /// one in the history and are written by `node` are refused.
    case revoke(node: NodeID)

    /// The node a grant or revocation is about; nil for a credential.
    public var subject: NodeID? {
        switch self {
        case .credential: nil
        case .grant(let node, _), .revoke(let node): node
        }
    }
}
