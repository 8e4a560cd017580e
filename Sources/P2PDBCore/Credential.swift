/// A network key's signed statement that a node belongs to the network with
/// a role, until an optional expiry. Issued offline (`p2pdb network admit`),
/// shown in the peer handshake, and carried in its node's first entry so
/// that every replica knows, at that point of the history, what the author
/// may do.
///
/// ```swift
/// let credential = Credential.issue(by: networkKey, for: node, role: .writer, issuedAt: now, expiresAt: nil)
/// let decoded = try Credential(bytes: credential.bytes)
/// assert(decoded.problem(network: NetworkID(key: networkKey), node: node, now: now) == nil)
/// ```
///
/// Encoding (docs/FORMATS.md): version byte 1, network ID (32 bytes), node
/// ID (32), role (1 byte), issued-at and expires-at (zig-zag varints,
/// milliseconds since 1970, expires-at 0 for none), then the Ed25519
/// signature (64) over ``signingDomain`` followed by everything before it.
public struct Credential: Hashable, Sendable {
    public static let version: UInt8 = 1
    /// Prefixed to the signed bytes, so that no other signed P2PDB message
    /// can pass for a credential.
    public static let signingDomain = Array("p2pdb-credential\0".utf8)
    public static let fileFormat = "p2pdb-credential-v1"

    public let network: NetworkID
    public let node: NodeID
    public let role: NetworkRole
    public let issuedAt: Int64
    public let expiresAt: Int64?
    public let signature: [UInt8]
    /// The canonical encoding, signature included.
    public let bytes: [UInt8]

    /// Signs a credential with the network key.
    public static func issue(by networkKey: NodeKey, for node: NodeID, role: NetworkRole, issuedAt: Int64, expiresAt: Int64?) -> Credential {
        let network = NetworkID(key: networkKey)
        var writer = unsigned(network: network, node: node, role: role, issuedAt: issuedAt, expiresAt: expiresAt)
        let signature = networkKey.sign(signingDomain + writer.bytes)
        writer.writeBytes(signature)
        return Credential(
            network: network, node: node, role: role, issuedAt: issuedAt, expiresAt: expiresAt, signature: signature, bytes: writer.bytes)
    }

    /// Decodes a credential, strictly; the signature is checked by
    /// ``problem(network:node:now:)``, against the network the reader is in.
    public init(bytes: [UInt8]) throws(FormatError) {
        guard bytes.count <= 256 else { throw .malformed("a credential is at most 256 bytes") }
        var reader = ByteReader(bytes)
        let version = try reader.readByte()
        guard version == Self.version else { throw .unsupportedVersion(version) }
        let network = NetworkID(try reader.readBytes32())
        let node = NodeID(try reader.readBytes32())
        let roleByte = try reader.readByte()
        guard let role = NetworkRole(rawValue: roleByte) else { throw .malformed("unknown role \(roleByte)") }
        let issuedAt = try reader.readSignedVarint()
        let expiry = try reader.readSignedVarint()
        let signature = Array(try reader.readBytes(64))
        try reader.requireEnd()
        // One credential, one encoding: the re-encoding must be these bytes.
        let expiresAt: Int64? = expiry == 0 ? nil : expiry
        var canonical = Self.unsigned(network: network, node: node, role: role, issuedAt: issuedAt, expiresAt: expiresAt)
        canonical.writeBytes(signature)
        guard canonical.bytes == bytes else { throw .malformed("the credential is not in its canonical encoding") }
        self.init(network: network, node: node, role: role, issuedAt: issuedAt, expiresAt: expiresAt, signature: signature, bytes: bytes)
    }

    private init(network: NetworkID, node: NodeID, role: NetworkRole, issuedAt: Int64, expiresAt: Int64?, signature: [UInt8], bytes: [UInt8]) {
        self.network = network
        self.node = node
        self.role = role
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.signature = signature
        self.bytes = bytes
    }

    private static func unsigned(network: NetworkID, node: NodeID, role: NetworkRole, issuedAt: Int64, expiresAt: Int64?) -> ByteWriter {
        var writer = ByteWriter(capacity: 160)
        writer.writeByte(version)
        writer.writeBytes32(network.raw)
        writer.writeBytes32(node.raw)
        writer.writeByte(role.rawValue)
        writer.writeSignedVarint(issuedAt)
        writer.writeSignedVarint(expiresAt ?? 0)
        return writer
    }

    /// Why this credential does not admit `node` to `network` at time `now`
    /// (milliseconds since 1970), or nil when it does.
    public func problem(network expected: NetworkID, node expectedNode: NodeID, now: Int64) -> CredentialProblem? {
        guard network == expected else { return .otherNetwork(network) }
        guard isSignedByItsNetwork else { return .forged }
        guard node == expectedNode else { return .otherNode(node) }
        if let expiresAt, now >= expiresAt { return .expired(at: expiresAt) }
        return nil
    }

    /// Whether the network key of the network it names signed it.
    public var isSignedByItsNetwork: Bool { network.signed(signature, Self.signingDomain + bytes.dropLast(64)) }

    /// The credential file: its format name and its bytes, in hex.
    public var json: JSON {
        .object([
            ("format", .string(Self.fileFormat)), ("network", .string(network.hex)), ("node", .string(node.hex)),
            ("role", .string(role.description)), ("issued_at", .integer(issuedAt)), ("expires_at", expiresAt.map { .integer($0) } ?? .null),
            ("credential", .string(Hex.encode(bytes))),
        ])
    }

    /// Reads a credential file. Only the `credential` bytes count; the other
    /// fields, there for people to read, must agree with them.
    public init(json: JSON) throws(P2PDBError) {
        guard json["format"]?.stringValue == Self.fileFormat else {
            throw P2PDBError(.invalidInput, "not a P2PDB credential (expected \"format\": \"\(Self.fileFormat)\"); issue one with `p2pdb network admit`")
        }
        guard let hex = json["credential"]?.stringValue, let bytes = Hex.decode(hex) else {
            throw P2PDBError(.invalidInput, "the credential file has no \"credential\" in hex")
        }
        do {
            self = try Credential(bytes: bytes)
        } catch {
            throw P2PDBError(.corrupt, "the credential is malformed: \(error)")
        }
        guard json == self.json else {
            throw P2PDBError(.corrupt, "the credential file's readable fields do not match its signed bytes; it was edited: issue a new one")
        }
    }
}

/// Why a node is not admitted to a private network.
public enum CredentialProblem: Error, Hashable, Sendable, CustomStringConvertible {
    /// It showed no credential.
    case missing
    /// Its credential is for another network.
    case otherNetwork(NetworkID)
    /// Its credential names another node.
    case otherNode(NodeID)
    /// Its credential's signature is not the network key's.
    case forged
    /// Its credential expired at this time (milliseconds since 1970).
    case expired(at: Int64)

    public var description: String {
        switch self {
        case .missing: "it has no credential for this network (it runs in open mode or without --credential)"
        case .otherNetwork(let network): "its credential is for another network (\(network.short))"
        case .otherNode(let node): "its credential was issued to another node (\(node.short))"
        case .forged: "its credential's signature is not this network's (forged or altered)"
        case .expired(let at): "its credential expired at \(Timestamps.iso8601(milliseconds: at))"
        }
    }

    /// A word for metrics and tests.
    public var code: String {
        switch self {
        case .missing: "no_credential"
        case .otherNetwork: "other_network"
        case .otherNode: "other_node"
        case .forged: "forged"
        case .expired: "expired"
        }
    }
}
