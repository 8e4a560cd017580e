/// A private network's identity: the Ed25519 public key of its network key.
///
/// The network key itself stays with whoever administers the network (a
/// shop's head office); nodes are given only this ID, in a network
/// descriptor, and a ``Credential`` the network key signed for them.
public struct NetworkID: Hashable, Sendable, CustomStringConvertible {
    public let raw: Bytes32

    public init(_ raw: Bytes32) { self.raw = raw }

    public init?(hex: String) {
        guard let raw = Bytes32(hex: hex) else { return nil }
        self.raw = raw
    }

    /// The ID of the network whose key is `key`.
    public init(key: NodeKey) { raw = key.nodeID.raw }

    public var hex: String { raw.hex }
    public var description: String { raw.hex }
    /// The first 8 hex digits, for log lines meant for people.
    public var short: String { String(raw.hex.prefix(8)) }

    /// Whether `signature` over `message` was made with this network's key.
    public func signed(_ signature: [UInt8], _ message: [UInt8]) -> Bool {
        Signatures.isValid(signature: signature, of: message, by: NodeID(raw))
    }
}

/// What a node of a private network may do. Ordered by power: each role
/// may do everything the ones before it may.
public enum NetworkRole: UInt8, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    /// Replicates every entry; writes nothing.
    case reader = 1
    /// Also writes rows and schema.
    case writer = 2
    /// Also administers the network's members.
    case admin = 3

    public init?(name: String) {
        guard let role = Self.allCases.first(where: { $0.description == name }) else { return nil }
        self = role
    }

    public var description: String {
        switch self {
        case .reader: "reader"
        case .writer: "writer"
        case .admin: "admin"
        }
    }

    public var mayWrite: Bool { self >= .writer }

    public static func < (lhs: NetworkRole, rhs: NetworkRole) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The public description of a private network that every member is given:
/// its ID and its name.
public struct NetworkDescriptor: Hashable, Sendable {
    public static let format = "p2pdb-network-v1"

    public var id: NetworkID
    public var name: String

    public init(id: NetworkID, name: String) {
        self.id = id
        self.name = name
    }

    /// How people see the network in messages: its name and the start of its ID.
    public var label: String { "\"\(name)\" (\(id.short))" }

    public var json: JSON {
        .object([("format", .string(Self.format)), ("name", .string(name)), ("network", .string(id.hex))])
    }

    public init(json: JSON) throws(P2PDBError) {
        guard json["format"]?.stringValue == Self.format else {
            throw P2PDBError(.invalidInput, "not a P2PDB network descriptor (expected \"format\": \"\(Self.format)\"); make one with `p2pdb network create`")
        }
        guard let name = json["name"]?.stringValue, let hex = json["network"]?.stringValue, let id = NetworkID(hex: hex) else {
            throw P2PDBError(.invalidInput, "the network descriptor needs \"name\" and \"network\" (64 hex digits)")
        }
        self.init(id: id, name: name)
    }
}
