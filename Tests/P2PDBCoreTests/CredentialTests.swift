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
        #expect(members.refusal(author: node.nodeID, payload: bare, wallTime: now, past: FactVector()) != nil)
        // The first entry carries it.
        #expect(members.changesToCarry(author: node.nodeID, credential: writer) == [.credential(writer)])
        let first = Entry.make(
            author: node, seq: 1, lamport: 1, parents: [], wallTime: now,
            payload: EntryPayload(tableChanges: bare.tableChanges, membership: [.credential(writer)]))
        #expect(members.refusal(of: first, past: FactVector()) == nil)
        members.record(first, past: FactVector())
        #expect(members.role(of: node.nodeID) == .writer)
        #expect(members.changesToCarry(author: node.nodeID, credential: writer).isEmpty)
        #expect(members.refusal(author: node.nodeID, payload: bare, wallTime: now + 1, past: FactVector()) == nil)
        // Written after the credential expired.
        #expect(members.refusal(author: node.nodeID, payload: bare, wallTime: now + 10_000, past: FactVector())?.contains("expired") == true)
        // A reader's credential never lets it write.
        let readerKey = NodeKey()
        let reader = Credential.issue(by: networkKey, for: readerKey.nodeID, role: .reader, issuedAt: now, expiresAt: nil)
        let readerPayload = EntryPayload(tableChanges: bare.tableChanges, membership: [.credential(reader)])
        #expect(members.refusal(author: readerKey.nodeID, payload: readerPayload, wallTime: now, past: FactVector())?.contains("reader") == true)
        // Someone else's credential, carried by another author.
        #expect(members.refusal(author: readerKey.nodeID, payload: EntryPayload(membership: [.credential(writer)]), wallTime: now, past: FactVector()) != nil)
        // An older credential cannot come back once a newer one is recorded.
        let older = Credential.issue(by: networkKey, for: node.nodeID, role: .admin, issuedAt: now - 1, expiresAt: nil)
        #expect(members.refusal(author: node.nodeID, payload: EntryPayload(membership: [.credential(older)]), wallTime: now, past: FactVector()) != nil)
    }

    /// Members of one network: each signs its first entry with its credential.
    struct Members {
        var state: NetworkMembership
        let networkKey: NodeKey
        let now: Int64
        var seqs: [NodeID: UInt64] = [:]

        /// The next entry of `author` after the facts in `past`, carrying
        /// `changes`, and whether it was accepted (recorded if so).
        mutating func write(_ author: NodeKey, role: NetworkRole? = nil, _ changes: [MembershipChange] = [], past: FactVector)
            -> (accepted: Bool, vector: FactVector, refusal: String?)
        {
            var membership = changes
            if let role { membership.insert(.credential(Credential.issue(by: networkKey, for: author.nodeID, role: role, issuedAt: now, expiresAt: nil)), at: 0) }
            let seq = (seqs[author.nodeID] ?? 0) + 1
            let entry = Entry.make(
                author: author, seq: seq, lamport: seq, parents: [], wallTime: now, payload: EntryPayload(tableChanges: samplePayload.tableChanges, membership: membership))
            if let refusal = state.refusal(of: entry, past: past) { return (false, past, refusal) }
            seqs[author.nodeID] = seq
            return (true, state.record(entry, past: past), nil)
        }
    }

    @Test func grantsAndRevocationsTakeEffectInCausalOrder() throws {
        var members = Members(state: NetworkMembership(network: network), networkKey: networkKey, now: now)
        let admin = NodeKey(), writer = NodeKey()
        #expect(members.write(admin, role: .admin, past: FactVector()).accepted)
        #expect(members.write(writer, role: .writer, past: FactVector()).accepted)
        // A writer may not administer.
        #expect(members.write(writer, [.revoke(node: admin.nodeID)], past: FactVector()).refusal?.contains("not an admin") == true)
        let revoked = members.write(admin, [.revoke(node: writer.nodeID)], past: FactVector())
        #expect(revoked.accepted)
        // Concurrent with the revocation: decided by its own past, accepted.
        #expect(members.write(writer, past: FactVector()).accepted)
        // After it: refused.
        #expect(members.write(writer, past: revoked.vector).refusal?.contains("revoked") == true)
        #expect(members.state.role(of: writer.nodeID) == nil)
        // Re-admitted as a reader, then as a writer, each after the last.
        let asReader = members.write(admin, [.grant(node: writer.nodeID, role: .reader)], past: revoked.vector)
        #expect(members.write(writer, past: asReader.vector).refusal?.contains("reader") == true)
        let asWriter = members.write(admin, [.grant(node: writer.nodeID, role: .writer)], past: asReader.vector)
        #expect(members.write(writer, past: asWriter.vector).accepted)
        #expect(members.state.role(of: writer.nodeID) == .writer)
    }

    @Test func mutualConcurrentRevocationsRemoveBothAdmins() {
        var members = Members(state: NetworkMembership(network: network), networkKey: networkKey, now: now)
        let first = NodeKey(), second = NodeKey(), writer = NodeKey()
        #expect(members.write(first, role: .admin, past: FactVector()).accepted)
        #expect(members.write(second, role: .admin, past: FactVector()).accepted)
        #expect(members.write(writer, role: .writer, past: FactVector()).accepted)
        let one = members.write(first, [.revoke(node: second.nodeID)], past: FactVector())
        let other = members.write(second, [.revoke(node: first.nodeID)], past: FactVector())
        #expect(one.accepted && other.accepted)
        var both = one.vector
        both.merge(other.vector)
        #expect(!members.write(first, past: both).accepted)
        #expect(!members.write(second, [.grant(node: first.nodeID, role: .admin)], past: both).accepted)
        #expect(members.write(writer, past: both).accepted, "others keep writing")
        #expect(members.state.role(of: first.nodeID) == nil && members.state.role(of: second.nodeID) == nil)
    }

    @Test func concurrentGrantsGiveTheLowerRole() {
        var members = Members(state: NetworkMembership(network: network), networkKey: networkKey, now: now)
        let first = NodeKey(), second = NodeKey(), node = NodeKey()
        #expect(members.write(first, role: .admin, past: FactVector()).accepted)
        #expect(members.write(second, role: .admin, past: FactVector()).accepted)
        let up = members.write(first, [.grant(node: node.nodeID, role: .admin)], past: FactVector())
        let down = members.write(second, [.grant(node: node.nodeID, role: .reader)], past: FactVector())
        var both = up.vector
        both.merge(down.vector)
        #expect(members.state.standing(of: node.nodeID, in: both) == .granted(.reader))
        #expect(members.state.standing(of: node.nodeID, in: up.vector) == .granted(.admin))
        // A node admitted by a grant needs no credential of its own.
        #expect(members.write(node, past: up.vector).accepted)
    }

    @Test func grantsAndRevocationsRoundTripThroughTheEntryFormat() throws {
        let payload = EntryPayload(membership: [.grant(node: node.nodeID, role: .admin), .revoke(node: networkKey.nodeID)])
        let entry = Entry.make(author: node, seq: 1, lamport: 1, parents: [], wallTime: now, payload: payload)
        #expect(try Entry(bytes: entry.bytes).payload == payload)
        let vector = FactVector([node.nodeID: 3, networkKey.nodeID: 1])
        #expect(try FactVector(bytes: vector.bytes) == vector)
    }
}
