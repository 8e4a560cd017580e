/// One committed write transaction: the unit of P2PDB's log.
///
/// An entry names its author, the author's sequence number, a Lamport clock,
/// the entries its author had as heads (its parents), an informational
/// wall-clock time, and what the transaction changed. The author signs it;
/// its ID is the SHA-256 of its canonical bytes, signature included. Entries
/// never change, and parents are named by ID, so the log is a Merkle DAG.
///
/// ```swift
/// let entry = Entry.make(
///     author: key, seq: 1, lamport: 1, parents: [], wallTime: 0,
///     payload: EntryPayload(schemaChanges: [], tableChanges: []))
/// let decoded = try Entry(bytes: entry.bytes)   // verifies the signature
/// assert(decoded.id == entry.id)
/// ```
public struct Entry: Sendable, Hashable, Identifiable {
    /// The newest entry format this build reads and writes. An entry is
    /// written in the oldest version that can carry it (see
    /// ``EntryCodec/version(of:)``), so builds that know only version 1
    /// still read every entry that needs nothing newer.
    public static let formatVersion: UInt8 = 3

    public let id: EntryID
    public let author: NodeID
    public let seq: UInt64
    public let lamport: UInt64
    /// Sorted ascending, no duplicates.
    public let parents: [EntryID]
    /// Milliseconds since 1970 on the author's clock; informational only.
    public let wallTime: Int64
    public let payload: EntryPayload
    public let signature: [UInt8]
    /// The canonical encoding, as hashed and stored.
    public let bytes: [UInt8]

    public var stamp: Stamp { Stamp(lamport: lamport, author: author) }

    /// The number of row changes the entry carries.
    public var rowChangeCount: Int { payload.tableChanges.reduce(0) { $0 + $1.rows.count } }

    public static func == (lhs: Entry, rhs: Entry) -> Bool { lhs.id == rhs.id }
    public func hash(into hasher: inout Hasher) { hasher.combine(id) }

    /// Encodes and signs a new entry.
    public static func make(
        author key: NodeKey, seq: UInt64, lamport: UInt64, parents: [EntryID], wallTime: Int64, payload: EntryPayload
    ) -> Entry {
        let sortedParents = Array(Set(parents)).sorted()
        var writer = EntryCodec.encodeUnsigned(
            author: key.nodeID, seq: seq, lamport: lamport, parents: sortedParents, wallTime: wallTime, payload: payload)
        let signature = key.sign(writer.bytes)
        writer.writeBytes(signature)
        let bytes = writer.bytes
        return Entry(
            id: EntryID(Signatures.sha256(bytes)), author: key.nodeID, seq: seq, lamport: lamport,
            parents: sortedParents, wallTime: wallTime, payload: payload, signature: signature, bytes: bytes)
    }

    /// Decodes canonical bytes and checks the signature.
    ///
    /// - Throws: ``EntryError`` if the bytes are malformed or the signature
    ///   does not verify against the author's key.
    public init(bytes: [UInt8]) throws(EntryError) {
        try self.init(bytes: bytes, verifySignature: true)
    }

    /// Decodes canonical bytes; `verifySignature: false` is for bytes that
    /// were verified before they were stored.
    public init(bytes: [UInt8], verifySignature: Bool) throws(EntryError) {
        let decoded: EntryCodec.Decoded
        do {
            decoded = try EntryCodec.decode(bytes)
        } catch {
            throw .malformed(error)
        }
        if verifySignature {
            let message = bytes[..<(bytes.count - EntryCodec.signatureSize)]
            guard Signatures.isValid(signature: decoded.signature, of: message, by: decoded.author) else {
                throw .badSignature(author: decoded.author)
            }
        }
        self.init(
            id: EntryID(Signatures.sha256(bytes)), author: decoded.author, seq: decoded.seq, lamport: decoded.lamport,
            parents: decoded.parents, wallTime: decoded.wallTime, payload: decoded.payload,
            signature: decoded.signature, bytes: bytes)
    }

    private init(
        id: EntryID, author: NodeID, seq: UInt64, lamport: UInt64, parents: [EntryID], wallTime: Int64,
        payload: EntryPayload, signature: [UInt8], bytes: [UInt8]
    ) {
        self.id = id
        self.author = author
        self.seq = seq
        self.lamport = lamport
        self.parents = parents
        self.wallTime = wallTime
        self.payload = payload
        self.signature = signature
        self.bytes = bytes
    }
}

/// What an entry changed: schema changes first, in the order they ran, then
/// the net row changes of the transaction, then what it says about the
/// members of a private network.
public struct EntryPayload: Hashable, Sendable {
    public var schemaChanges: [SchemaChange]
    public var tableChanges: [TableChanges]
    public var membership: [MembershipChange]

    public init(schemaChanges: [SchemaChange] = [], tableChanges: [TableChanges] = [], membership: [MembershipChange] = []) {
        self.schemaChanges = schemaChanges
        self.tableChanges = tableChanges
        self.membership = membership
    }

    public var isEmpty: Bool { schemaChanges.isEmpty && tableChanges.allSatisfy { $0.rows.isEmpty } && membership.isEmpty }

    /// The credential the entry carries for its author, if any.
    public var credential: Credential? {
        membership.lazy.compactMap { change -> Credential? in
            if case .credential(let credential) = change { return credential }
            return nil
        }.last
    }
}

/// Why an entry was refused.
public enum EntryError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(FormatError)
    case badSignature(author: NodeID)
    case invalid(String)

    public var description: String {
        switch self {
        case .malformed(let error): return "entry is malformed: \(error)"
        case .badSignature(let author):
            return "entry signature does not verify for its author \(author.short) (forged or tampered)"
        case .invalid(let why): return "entry is invalid: \(why)"
        }
    }
}
