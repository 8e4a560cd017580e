import P2PDBCore
import Testing

@Suite("Credentials and network membership")
struct CredentialTests {
    let networkKey = NodeKey()
    let node = NodeKey()
    let now: Int64 = 1_800_000_000_000

    var network: NetworkID { NetworkID(key: networkKey) }

    @Test func aCredentialRoundTripsAndAdmitsItsNodeOnly() throws {
        let credential = Credential.issue(by: networkKey, for: node.nodeID, role: .writer, issuedAt: now, expiresAt: now + 1000)
        let decoded = try Credential(bytes: credential.bytes)
        #expect(decoded == credential)
        #expect(decoded.problem(network: network, node: node.nodeID, now: now) == nil)
        #expect(decoded.problem(network: network, node: NodeKey().nodeID, now: now) == .otherNode(node.nodeID))
        #expect(decoded.problem(network: NetworkID(key: NodeKey()), node: node.nodeID, now: now) == .otherNetwork(network))
        #expect(decoded.problem(network: network, node: node.nodeID, now: now + 1000) == .expired(at: now + 1000))
        #expect(try Credential(json: decoded.json) == decoded)
    }

    @Test func aCredentialSignedByAnotherKeyIsForged() {
        // Same fields, signed by a key that claims the network's ID.
        let other = Credential.issue(by: NodeKey(), for: node.nodeID, role: .admin, issuedAt: now, expiresAt: nil)
        var bytes = other.bytes
        bytes.replaceSubrange(1..<33, with: network.raw.bytes)
        let forged = try? Credential(bytes: bytes)
        #expect(forged?.problem(network: network, node: node.nodeID, now: now) == .forged)
    }

    /// Any change to a credential's bytes either fails to decode or fails
    /// the check: nothing but the network key makes a valid one.
    @Test func everyAlteredByteIsCaught() {
        let credential = Credential.issue(by: networkKey, for: node.nodeID, role: .reader, issuedAt: now, expiresAt: nil)
        var random = SystemRandomNumberGenerator()
        for index in credential.bytes.indices {
            var bytes = credential.bytes
            bytes[index] ^= UInt8.random(in: 1...255, using: &random)
            guard let altered = try? Credential(bytes: bytes) else { continue }
            #expect(altered.problem(network: network, node: node.nodeID, now: now) != nil, "byte \(index)")
        }
        #expect((try? Credential(bytes: credential.bytes + [0])) == nil)
        #expect((try? Credential(bytes: Array(credential.bytes.dropLast()))) == nil)
    }

    @Test func anEditedCredentialFileIsRefused() throws {
        let credential = Credential.issue(by: networkKey, for: node.nodeID, role: .reader, issuedAt: now, expiresAt: nil)
        guard case .object(var members) = credential.json else { Issue.record("not an object"); return }
        members = members.map { $0.0 == "role" ? ("role", .string("admin")) : $0 }
        #expect(throws: P2PDBError.self) { try Credential(json: .object(members)) }
    }

    @Test func entriesCarryCredentialsInFormatVersionThree() throws {
        let credential = Credential.issue(by: networkKey, for: node.nodeID, role: .writer, issuedAt: now, expiresAt: nil)
        let entry = Entry.make(
            author: node, seq: 1, lamport: 1, parents: [], wallTime: now, payload: EntryPayload(membership: [.credential(credential)]))
        #expect(entry.bytes[3] == 3)
        let decoded = try Entry(bytes: entry.bytes)
        #expect(decoded.payload.credential == credential)
        let plain = Entry.make(author: node, seq: 1, lamport: 1, parents: [], wallTime: now, payload: samplePayload)
        #expect(plain.bytes[3] == 1)
    }

    @Test func membershipJudgesEachEntryByItsAuthorsHistory() {
        var members = NetworkMembership(network: network)
        let writer = Credential.issue(by: networkKey, for: node.nodeID, role: .writer, issuedAt: now, expiresAt: now + 10_000)
        let bare = EntryPayload(tableChanges: samplePayload.tableChanges)
        // No credential in the history: not a member.
        #expect(members.refusal(author: node.nodeID, payload: bare, wallTime: now) != nil)
        // The first entry carries it.
        #expect(members.changesToCarry(author: node.nodeID, credential: writer) == [.credential(writer)])
        let first = Entry.make(
            author: node, seq: 1, lamport: 1, parents: [], wallTime: now,
            payload: EntryPayload(tableChanges: bare.tableChanges, membership: [.credential(writer)]))
        #expect(members.refusal(of: first) == nil)
        members.record(first)
        #expect(members.role(of: node.nodeID) == .writer)
        #expect(members.changesToCarry(author: node.nodeID, credential: writer).isEmpty)
        #expect(members.refusal(author: node.nodeID, payload: bare, wallTime: now + 1) == nil)
        // Written after the credential expired.
        #expect(members.refusal(author: node.nodeID, payload: bare, wallTime: now + 10_000)?.contains("expired") == true)
        // A reader's credential never lets it write.
        let readerKey = NodeKey()
        let reader = Credential.issue(by: networkKey, for: readerKey.nodeID, role: .reader, issuedAt: now, expiresAt: nil)
        let readerPayload = EntryPayload(tableChanges: bare.tableChanges, membership: [.credential(reader)])
        #expect(members.refusal(author: readerKey.nodeID, payload: readerPayload, wallTime: now)?.contains("reader") == true)
        // Someone else's credential, carried by another author.
        #expect(members.refusal(author: readerKey.nodeID, payload: EntryPayload(membership: [.credential(writer)]), wallTime: now) != nil)
        // An older credential cannot come back once a newer one is recorded.
        let older = Credential.issue(by: networkKey, for: node.nodeID, role: .admin, issuedAt: now - 1, expiresAt: nil)
        #expect(members.refusal(author: node.nodeID, payload: EntryPayload(membership: [.credential(older)]), wallTime: now) != nil)
    }
}
