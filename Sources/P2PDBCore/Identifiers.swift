/// A node's identity: its Ed25519 public key.
///
/// Printed as 64 lower-case hex digits. Node IDs are totally ordered by their
/// bytes; the order breaks ties between writes with equal Lamport clocks.
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let raw: Bytes32

    public init(_ raw: Bytes32) { self.raw = raw }

    public init?(hex: String) {
        guard let raw = Bytes32(hex: hex) else { return nil }
        self.raw = raw
    }

    public var hex: String { raw.hex }
    public var description: String { raw.hex }
    /// The first 8 hex digits, for log lines meant for people.
    public var short: String { String(raw.hex.prefix(8)) }

    public static func < (lhs: NodeID, rhs: NodeID) -> Bool { lhs.raw < rhs.raw }
}

/// The SHA-256 digest of an entry's canonical bytes, signature included.
public struct EntryID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let raw: Bytes32

    public init(_ raw: Bytes32) { self.raw = raw }

    public init?(hex: String) {
        guard let raw = Bytes32(hex: hex) else { return nil }
        self.raw = raw
    }

    public var hex: String { raw.hex }
    public var description: String { raw.hex }
    public var short: String { String(raw.hex.prefix(12)) }

    public static func < (lhs: EntryID, rhs: EntryID) -> Bool { lhs.raw < rhs.raw }
}

/// The order of writes for last-writer-wins: Lamport clock first, then the
/// author's node ID. Two distinct writes never share a stamp unless one
/// author equivocates.
public struct Stamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let lamport: UInt64
    public let author: NodeID

    public init(lamport: UInt64, author: NodeID) {
        self.lamport = lamport
        self.author = author
    }

    public static func < (lhs: Stamp, rhs: Stamp) -> Bool {
        if lhs.lamport != rhs.lamport { return lhs.lamport < rhs.lamport }
        return lhs.author < rhs.author
    }

    public var description: String { "\(lamport)@\(author.short)" }
}
