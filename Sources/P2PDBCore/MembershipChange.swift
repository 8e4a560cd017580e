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
    /// An admin restricts who may write to a replicated table, for every
    /// entry that follows this one in the history.
    case restrict(table: String, rule: TableRule)

    /// The node a grant or revocation is about; nil otherwise.
    public var subject: NodeID? {
        switch self {
        case .grant(let node, _), .revoke(let node): node
        case .credential, .restrict: nil
        }
    }

    public var isRevocation: Bool {
        if case .revoke = self { return true }
        return false
    }

    /// Whether only an admin may sign it.
    public var isAdministrative: Bool {
        switch self {
        case .credential: false
        case .grant, .revoke, .restrict: true
        }
    }
}

/// Who may write to a table: nodes with at least `minimumRole`, and the
/// nodes listed whatever their role (readers excepted: they never write).
///
/// ```swift
/// // Only admins (head office) and one named node may change prices.
/// TableRule(minimumRole: .admin, nodes: [backOffice])
/// ```
public struct TableRule: Hashable, Sendable {
    public var minimumRole: NetworkRole
    public var nodes: [NodeID]

    /// Anyone who may write at all: what a table without a rule allows.
    public static let writers = TableRule(minimumRole: .writer, nodes: [])

    public init(minimumRole: NetworkRole, nodes: [NodeID]) {
        self.minimumRole = max(minimumRole, .writer)
        self.nodes = Array(Set(nodes)).sorted()
    }

    public func allows(_ node: NodeID, role: NetworkRole) -> Bool {
        role.mayWrite && (role >= minimumRole || nodes.contains(node))
    }

    /// "admins", "writers and 2 named nodes".
    public var description: String {
        let roles = minimumRole == .admin ? "admins" : "writers"
        return nodes.isEmpty ? roles : "\(roles) and \(nodes.map(\.short).joined(separator: ", "))"
    }
}
