/// Which admins' grants and revocations lie in an entry's causal past: for
/// each admin, the highest sequence number of its entries that carry one.
///
/// An author's entries form a chain, so an admin's entry with sequence
/// number `s` is in an entry's past exactly when the vector's number for
/// that admin is at least `s`. The vector of an entry is the largest of its
/// parents' vectors, plus the entry itself when it carries a grant or a
/// revocation: computed once per entry and kept, it answers "was this
/// revocation in force here?" without walking the history.
public struct FactVector: Hashable, Sendable {
    public private(set) var seqs: [NodeID: UInt64]

    public init(_ seqs: [NodeID: UInt64] = [:]) {
        self.seqs = seqs.filter { $0.value > 0 }
    }

    public var isEmpty: Bool { seqs.isEmpty }

    /// Whether the entry `seq` of `author` is in the past this vector describes.
    public func covers(_ author: NodeID, _ seq: UInt64) -> Bool { (seqs[author] ?? 0) >= seq }

    public mutating func merge(_ other: FactVector) {
        seqs.merge(other.seqs, uniquingKeysWith: max)
    }

    public mutating func include(_ author: NodeID, _ seq: UInt64) {
        seqs[author] = max(seqs[author] ?? 0, seq)
    }

    /// Count, then each admin's node ID and sequence number, by node ID.
    public var bytes: [UInt8] {
        var writer = ByteWriter(capacity: 4 + seqs.count * 40)
        writer.writeVarint(seqs.count)
        for (node, seq) in seqs.sorted(by: { $0.key < $1.key }) {
            writer.writeBytes32(node.raw)
            writer.writeVarint(seq)
        }
        return writer.bytes
    }

    public init(bytes: [UInt8]) throws(FormatError) {
        var reader = ByteReader(bytes)
        let count = try reader.readCount(minimumItemSize: 33)
        var seqs: [NodeID: UInt64] = [:]
        for _ in 0..<count { seqs[NodeID(try reader.readBytes32())] = try reader.readVarint() }
        try reader.requireEnd()
        self.init(seqs)
    }
}
