/// What an entry says about the members of a private network.
///
/// A node's first entry in a private network carries its own credential, so
/// that every replica, relayed by whoever, learns what the author may do
/// from the author's history itself: an author's entries form a chain, and
/// its first entry is in the causal past of all the others.
public enum MembershipChange: Hashable, Sendable {
    /// The author's credential, signed by the network key.
    case credential(Credential)
}
