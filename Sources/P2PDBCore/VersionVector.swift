/// For each author, the highest sequence number up to which a replica holds
/// every one of that author's entries.
///
/// Printed as JSON: `{"<node id hex>": seq, ...}`.
public struct VersionVector: Hashable, Sendable {
    public private(set) var counts: [NodeID: UInt64]

    public init(_ counts: [NodeID: UInt64] = [:]) {
        self.counts = counts.filter { $0.value > 0 }
    }

    public subscript(author: NodeID) -> UInt64 {
        get { counts[author] ?? 0 }
        set { counts[author] = newValue > 0 ? newValue : nil }
    }

    /// True if an entry by `author` with sequence number `seq` is covered.
    public func contains(author: NodeID, seq: UInt64) -> Bool { seq <= self[author] }

    /// True if every count here is at least the other's.
    public func dominates(_ other: VersionVector) -> Bool {
        other.counts.allSatisfy { self[$0.key] >= $0.value }
    }

    /// Entries covered here and not by `other`, as a count.
    public func entriesAhead(of other: VersionVector) -> UInt64 {
        counts.reduce(0) { total, item in total + (item.value > other[item.key] ? item.value - other[item.key] : 0) }
    }

    /// Pairwise maximum.
    public func merged(with other: VersionVector) -> VersionVector {
        var result = self
        for (author, seq) in other.counts where seq > result[author] { result[author] = seq }
        return result
    }

    /// Authors sorted by node ID, for stable output.
    public var sorted: [(author: NodeID, seq: UInt64)] {
        counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

extension VersionVector {
    /// Reads the JSON form, `{"<node id hex>": seq, ...}`.
    public init(json: JSON) throws(P2PDBError) {
        guard case .object(let members) = json else {
            throw P2PDBError(.invalidInput, "a version vector is a JSON object of node ID to sequence number")
        }
        var counts: [NodeID: UInt64] = [:]
        for (key, value) in members {
            guard let nodeID = NodeID(hex: key) else {
                throw P2PDBError(.invalidInput, "version vector: \(key) is not a node ID (64 hex digits)")
            }
            guard case .number(let number) = value, let seq = UInt64(number) else {
                throw P2PDBError(.invalidInput, "version vector: the sequence number of \(nodeID.short) must be a non-negative integer")
            }
            counts[nodeID] = seq
        }
        self.init(counts)
    }
}
