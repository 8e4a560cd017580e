/// What a replica of a private network knows about its members, and the
/// rule every replica applies to every entry, its own included: an entry
/// is accepted only if its author may write it at that point of the history.
///
/// A node's role at an entry comes from the entry's causal past only, so
/// every replica decides alike whoever relayed the entry, and nothing
/// decided is ever undone:
///
/// - Grants and revocations by admins (``MembershipChange``) in the past
///   decide first. Of those about one node, the latest ones count (those no
///   other one follows); if any of them is a revocation the node is
///   revoked, otherwise it has the lowest role they grant. A grant that
///   follows a revocation re-admits the node.
/// - Otherwise the node's own credential decides: the one its own earlier
///   entries (or this entry) carry, newest issue first, until it expires
///   by the entry's wall time.
///
/// Writing rows, schema or an empty entry needs the writer role; granting,
/// revoking and restricting tables needs admin. A table restricted by an
/// admin's ``TableRule`` in the past takes writes from the nodes it allows.
///
/// ```swift
/// var members = NetworkMembership(network: network)
/// let past = FactVector()   // the largest of the parents' vectors
/// if let refusal = members.refusal(of: entry, past: past) { reject(refusal) } else { members.record(entry, past: past) }
/// ```
public struct NetworkMembership: Sendable, Equatable {
    /// A grant or revocation, where it sits in the history.
    public struct Fact: Sendable, Equatable {
        public var author: NodeID
        public var seq: UInt64
        /// Its place among the changes of its entry.
        public var index: Int
        public var change: MembershipChange
        /// The vector of the entry that carries it.
        public var vector: FactVector

        /// Whether `self` is in the causal past of `other`.
        func precedes(_ other: Fact) -> Bool {
            if author == other.author && seq == other.seq { return index < other.index }
            return other.vector.covers(author, seq)
        }
    }

    /// Where a node stands by the grants and revocations in a past.
    public enum Standing: Sendable, Equatable {
        /// No grant or revocation names it: its credential decides.
        case unnamed
        case granted(NetworkRole)
        case revoked(by: NodeID)
    }

    public let network: NetworkID
    /// The credential each author's history carries, newest issue wins.
    public private(set) var credentials: [NodeID: Credential]
    /// Every grant and revocation the replica holds, in log order.
    public private(set) var facts: [Fact]

    public init(network: NetworkID, credentials: [NodeID: Credential] = [:], facts: [Fact] = []) {
        self.network = network
        self.credentials = credentials
        self.facts = facts
    }

    /// Where `node` stands by the grants and revocations in `past`; by all
    /// of those the replica holds when `past` is nil.
    public func standing(of node: NodeID, in past: FactVector? = nil) -> Standing {
        var lowest: NetworkRole?
        for fact in latestFacts(about: node, in: past) {
            switch fact.change {
            case .revoke: return .revoked(by: fact.author)
            case .grant(_, let role): lowest = min(lowest ?? role, role)
            case .credential, .restrict: break
            }
        }
        return lowest.map { .granted($0) } ?? .unnamed
    }

    /// The revocations that bar `node` now: where in the log to find them,
    /// to show a revoked node why it is refused.
    public func revocations(of node: NodeID) -> [Fact] {
        latestFacts(about: node, in: nil).filter(\.change.isRevocation)
    }

    /// The grants and revocations about `node` in `past` that no other one
    /// about it follows.
    private func latestFacts(about node: NodeID, in past: FactVector?) -> [Fact] {
        let known = facts.filter { $0.change.subject == node && (past?.covers($0.author, $0.seq) ?? true) }
        return known.filter { fact in !known.contains { fact.precedes($0) } }
    }

    /// The role `node` has now, by everything the replica holds; nil for a
    /// node that is not a member, or was revoked.
    public func role(of node: NodeID) -> NetworkRole? {
        switch standing(of: node) {
        case .granted(let role): role
        case .revoked: nil
        case .unnamed: credentials[node]?.role
        }
    }

    /// Why `entry` is refused, given the vector of its parents, or nil if
    /// its author may write it.
    public func refusal(of entry: Entry, past: FactVector) -> String? {
        refusal(author: entry.author, payload: entry.payload, wallTime: entry.wallTime, past: past)
    }

    /// Why an entry by `author` with `payload`, written at `wallTime` after
    /// the grants and revocations in `past`, would be refused; nil if it
    /// would be accepted.
    public func refusal(author: NodeID, payload: EntryPayload, wallTime: Int64, past: FactVector) -> String? {
        let recorded = credentials[author]
        var credential = recorded
        var administers = false
        for change in payload.membership {
            switch change {
            case .credential(let carried):
                if let problem = carried.problem(network: network, node: author, now: wallTime) {
                    return "the credential it carries is refused: \(problem)"
                }
                // An older credential (a higher role since lowered, say) cannot
                // come back by being carried again.
                if let recorded, carried.issuedAt < recorded.issuedAt {
                    return "it carries a credential issued before the one its author's history holds"
                }
                credential = carried
            case .grant, .revoke, .restrict:
                administers = true
            }
        }
        let role: NetworkRole
        switch standing(of: author, in: past) {
        case .revoked(let admin):
            return "its author \(author.short) was revoked by admin \(admin.short) before it wrote it"
        case .granted(let granted):
            role = granted
        case .unnamed:
            guard let credential else {
                return "its author \(author.short) is not a member of network \(network.short): no credential or grant in its history"
            }
            if let expiresAt = credential.expiresAt, wallTime >= expiresAt {
                return "it was written after its author's credential expired (\(Timestamps.iso8601(milliseconds: expiresAt)))"
            }
            role = credential.role
        }
        guard role.mayWrite else {
            return "its author \(author.short) is a \(role) of network \(network.short) and may not write"
        }
        guard !administers || role == .admin else {
            return "it grants, revokes or restricts, and its author \(author.short) is a \(role), not an admin"
        }
        for table in Self.tablesWritten(by: payload) {
            let rule = rule(for: table, in: past)
            guard rule.allows(author, role: role) else {
                return "table \(table) is restricted to \(rule.description), and its author \(author.short) is a \(role)"
            }
        }
        return nil
    }

    /// Who may write to `table` by the rules in `past` (all the replica
    /// holds when nil). Of several concurrent latest rules, a writer must
    /// satisfy them all.
    public func rule(for table: String, in past: FactVector? = nil) -> TableRule {
        let key = SQLText.key(table)
        let known = facts.filter { fact in
            guard case .restrict(let name, _) = fact.change, SQLText.key(name) == key else { return false }
            return past?.covers(fact.author, fact.seq) ?? true
        }
        var combined: TableRule?
        for fact in known where !known.contains(where: { fact.precedes($0) }) {
            guard case .restrict(_, let rule) = fact.change else { continue }
            combined = combined.map {
                TableRule(minimumRole: max($0.minimumRole, rule.minimumRole), nodes: $0.nodes.filter(rule.nodes.contains))
            } ?? rule
        }
        return combined ?? .writers
    }

    /// The tables whose rows or columns a payload changes.
    private static func tablesWritten(by payload: EntryPayload) -> [String] {
        var tables = payload.tableChanges.filter { !$0.rows.isEmpty }.map(\.table)
        for change in payload.schemaChanges {
            if case .addColumn(let table, _) = change { tables.append(table) }
        }
        return tables
    }

    /// Takes in what an accepted entry says about members; `past` is the
    /// vector of its parents. Returns the entry's own vector.
    @discardableResult
    public mutating func record(_ entry: Entry, past: FactVector) -> FactVector {
        if let credential = entry.payload.credential { credentials[entry.author] = credential }
        var vector = past
        guard entry.payload.membership.contains(where: \.isAdministrative) else { return vector }
        vector.include(entry.author, entry.seq)
        restoreFacts(of: entry, vector: vector)
        return vector
    }

    /// Takes in the grants and revocations of an entry recorded earlier,
    /// with the vector ``record(_:past:)`` gave it.
    public mutating func restoreFacts(of entry: Entry, vector: FactVector) {
        for (index, change) in entry.payload.membership.enumerated() where change.isAdministrative {
            facts.append(Fact(author: entry.author, seq: entry.seq, index: index, change: change, vector: vector))
        }
    }

    /// What a new entry by `author` must carry: its credential, until the
    /// author's history holds that one (or a newer one).
    public func changesToCarry(author: NodeID, credential: Credential?) -> [MembershipChange] {
        guard let credential, credential.node == author else { return [] }
        if let recorded = credentials[author], recorded.issuedAt >= credential.issuedAt { return [] }
        return [.credential(credential)]
    }
}
