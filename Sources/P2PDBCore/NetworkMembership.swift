/// What a replica of a private network knows about its members, and the
/// rule every replica applies to every entry, its own included: an entry
/// is accepted only if its author may write at that point of its history.
///
/// An author's entries form a chain, so a credential carried by one of its
/// entries is in the causal past of all its later ones: the role an entry
/// is judged by comes from the author's own history, the same on every
/// replica whoever relayed the entry, and never from what arrived later.
///
/// ```swift
/// var members = NetworkMembership(network: network)
/// if let refusal = members.refusal(of: entry) { reject(refusal) } else { members.record(entry) }
/// ```
public struct NetworkMembership: Sendable, Equatable {
    public let network: NetworkID
    /// The credential each author's history carries, newest issue wins.
    public private(set) var credentials: [NodeID: Credential]

    public init(network: NetworkID, credentials: [NodeID: Credential] = [:]) {
        self.network = network
        self.credentials = credentials
    }

    /// The role `node`'s history gives it; nil for a node that never wrote
    /// (or is not a member).
    public func role(of node: NodeID) -> NetworkRole? { credentials[node]?.role }

    /// Why `entry` is refused, or nil if its author may write it.
    public func refusal(of entry: Entry) -> String? {
        refusal(author: entry.author, payload: entry.payload, wallTime: entry.wallTime)
    }

    /// Why an entry by `author` with `payload`, written at `wallTime`, would
    /// be refused; nil if it would be accepted.
    public func refusal(author: NodeID, payload: EntryPayload, wallTime: Int64) -> String? {
        let recorded = credentials[author]
        var credential = recorded
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
            }
        }
        guard let credential else {
            return "its author \(author.short) is not a member of network \(network.short): its history carries no credential"
        }
        guard credential.role.mayWrite else {
            return "its author \(author.short) is a \(credential.role) of network \(network.short) and may not write"
        }
        if let expiresAt = credential.expiresAt, wallTime >= expiresAt {
            return "it was written after its author's credential expired (\(Timestamps.iso8601(milliseconds: expiresAt)))"
        }
        return nil
    }

    /// Takes in the credential an accepted entry carries.
    public mutating func record(_ entry: Entry) {
        if let credential = entry.payload.credential { credentials[entry.author] = credential }
    }

    /// What a new entry by `author` must carry: its credential, until the
    /// author's history holds that one (or a newer one).
    public func changesToCarry(author: NodeID, credential: Credential?) -> [MembershipChange] {
        guard let credential, credential.node == author else { return [] }
        if let recorded = credentials[author], recorded.issuedAt >= credential.issuedAt { return [] }
        return [.credential(credential)]
    }
}
