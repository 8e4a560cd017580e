import GRDB
import P2PDBCore

/// Whether this replica holds every entry its own node has signed.
///
/// A node that keeps its key but lost its replica (a register restored
/// from a key backup onto an empty disk) would start again at sequence
/// number 1 and sign entries that conflict with the ones it signed before:
/// it would equivocate against itself. So a replica created for a key that
/// already existed refuses local writes until it has learned, from a peer's
/// version vector or from a bundle, how far its node had written, and holds
/// those entries.
enum OwnHistory: Equatable, Sendable {
    /// Every entry this node signed is here (a replica made with its key).
    case complete
    /// Nothing learned yet.
    case unknown
    /// A peer or a bundle said this node had written up to this sequence
    /// number; the replica is still missing some of those entries.
    case awaiting(through: UInt64)

    static func load(_ db: Database) throws -> OwnHistory {
        switch try String.fetchOne(db, sql: "SELECT value FROM _p2pdb_meta WHERE key = 'own_history'") {
        case nil: return .complete
        case "unknown"?: return .unknown
        case let text?:
            guard let seq = UInt64(text) else { throw P2PDBError(.corrupt, "the stored own-history mark \(text) is malformed") }
            return .awaiting(through: seq)
        }
    }

    func save(_ db: Database) throws {
        switch self {
        case .complete:
            try db.execute(sql: "DELETE FROM _p2pdb_meta WHERE key = 'own_history'")
        case .unknown:
            try db.execute(sql: "INSERT OR REPLACE INTO _p2pdb_meta(key, value) VALUES ('own_history', 'unknown')")
        case .awaiting(let seq):
            try db.execute(sql: "INSERT OR REPLACE INTO _p2pdb_meta(key, value) VALUES ('own_history', ?)", arguments: [String(seq)])
        }
    }

    /// After learning that this node had written up to `seq` (0: a peer
    /// that holds nothing of it), with `held` of its entries here.
    func learning(_ seq: UInt64, held: UInt64) -> OwnHistory {
        switch self {
        case .complete: return .complete
        case .unknown: return .awaiting(through: seq).settled(held: held)
        case .awaiting(let known): return .awaiting(through: max(known, seq)).settled(held: held)
        }
    }

    /// Complete once the entries learned of are all here.
    func settled(held: UInt64) -> OwnHistory {
        if case .awaiting(let seq) = self, held >= seq { return .complete }
        return self
    }

    /// Why a local write is refused, or nil if it is not.
    var refusal: P2PDBError? {
        switch self {
        case .complete:
            return nil
        case .unknown:
            return P2PDBError(
                .unavailable,
                "this replica was created anew for an existing node key, which may have signed entries before; writing now could sign conflicting ones. Let the node catch up first: serve it with --join to a peer, or import a bundle exported by one (`p2pdb resume-writes` overrides this if the key never wrote anything)")
        case .awaiting(let seq):
            return P2PDBError(
                .unavailable,
                "this replica is still receiving its own earlier entries (up to sequence number \(seq)); local writes resume once they are all here")
        }
    }
}
