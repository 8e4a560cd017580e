import Foundation
import P2PDBCore
import P2PDBStorage
import Testing

/// Replicas of one private network: entries are accepted only from authors
/// whose own history carries a credential that lets them write, by every
/// replica alike, whoever relays them; local writes follow the same rule.
@Suite("Private networks")
struct PrivateNetworkTests {
    let networkKey = NodeKey()
    let clock = ManualClock(milliseconds: 1_800_000_000_000)
    var network: NetworkID { NetworkID(key: networkKey) }

    func credential(_ key: NodeKey, _ role: NetworkRole, expiresIn: Int64? = nil, by issuer: NodeKey? = nil) -> Credential {
        Credential.issue(
            by: issuer ?? networkKey, for: key.nodeID, role: role, issuedAt: clock.now(), expiresAt: expiresIn.map { clock.now() + $0 })
    }

    func member(_ role: NetworkRole?, key: NodeKey = NodeKey(), expiresIn: Int64? = nil) throws -> TestReplica {
        try TestReplica(key: key, clock: clock, network: network, credential: role.map { credential(key, $0, expiresIn: expiresIn) })
    }

    /// Options that open a replica of this network as `key`, with a credential.
    func storeOptions(_ key: NodeKey, _ role: NetworkRole) -> StoreOptions {
        var options = StoreOptions(durability: .off, clock: clock)
        options.network = network
        options.credential = credential(key, role)
        return options
    }

    /// A new directory and the path of a replica file in it, for tests
    /// that close and reopen a store.
    func scratchPath() throws -> (URL, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("p2pdb-network-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return (directory, directory.appendingPathComponent("replica.sqlite").path)
    }

    /// The count of entries in `replica`'s log written by `author`.
    func entries(by author: NodeKey, in replica: TestReplica) async throws -> Int {
        try await replica.entries().filter { $0.author == author.nodeID }.count
    }

    @Test func aWritersFirstEntryCarriesItsCredentialAndOthersAcceptIt() async throws {
        let writer = try member(.writer)
        let other = try member(.writer)
        try await writer.sql("CREATE TABLE items (id TEXT PRIMARY KEY, price INTEGER)")
        try await writer.sql("INSERT INTO items VALUES ('apple', 3)")
        let log = try await writer.entries()
        #expect(log.map { $0.payload.credential != nil } == [true, false])
        try await writer.send(to: other)
        #expect(other.stateHash == writer.stateHash)
        #expect(other.store.summary.role == nil)
        #expect(writer.store.summary.role == .writer)
        #expect(try await other.store.verify().isValid)
    }

    @Test func aReadersWriteIsRefusedLocallyAndEverywhere() async throws {
        let writer = try member(.writer)
        let readerKey = NodeKey()
        let reader = try member(.reader, key: readerKey)
        try await writer.sql("CREATE TABLE items (id TEXT PRIMARY KEY, price INTEGER)")
        try await writer.send(to: reader)
        let before = reader.stateHash
        await #expect {
            try await reader.sql("UPDATE items SET price = 1")
            try await reader.sql("INSERT INTO items VALUES ('apple', 1)")
        } throws: { ($0 as? P2PDBError)?.kind == .forbidden }
        #expect(reader.stateHash == before)
        #expect(try await entries(by: readerKey, in: reader) == 0)

        // The reader signs an entry by hand, carrying its reader credential,
        // and a writer relays it: refused on arrival, whoever sent it.
        let forged = try await handMadeEntry(by: readerKey, carrying: credential(readerKey, .reader), after: writer)
        let report = try await writer.store.apply([forged])
        #expect(report.applied == 0)
        #expect(report.rejected.first?.1.contains("reader") == true)
        #expect(try await writer.store.verify().isValid)
    }

    @Test func outsidersAreRefusedWhateverTheyCarry() async throws {
        let writer = try member(.writer)
        try await writer.sql("CREATE TABLE items (id TEXT PRIMARY KEY, price INTEGER)")
        let before = writer.stateHash
        let cases: [(String, Credential?)] = [
            ("not a member", nil),
            ("another network", Credential.issue(by: NodeKey(), for: NodeKey().nodeID, role: .writer, issuedAt: 0, expiresAt: nil)),
        ]
        for (expected, carried) in cases {
            let outsider = NodeKey()
            let credential = carried.map { Credential.issue(by: NodeKey(), for: outsider.nodeID, role: $0.role, issuedAt: 0, expiresAt: nil) }
            let entry = try await handMadeEntry(by: outsider, carrying: credential, after: writer)
            let report = try await writer.store.apply([entry])
            #expect(report.applied == 0, "\(expected)")
            #expect(report.rejected.count == 1, "\(expected)")
        }
        // Someone else's valid writer credential, carried by an outsider.
        let stolen = credential(NodeKey(), .writer)
        let thief = NodeKey()
        let report = try await writer.store.apply([try await handMadeEntry(by: thief, carrying: stolen, after: writer)])
        #expect(report.rejected.first?.1.contains("another node") == true)
        #expect(writer.stateHash == before)
        #expect(try await writer.store.verify().isValid)
    }

    @Test func anExpiredCredentialStopsWritesByTheirTime() async throws {
        let writerKey = NodeKey()
        let writer = try member(.writer, key: writerKey, expiresIn: 60_000)
        let other = try member(.writer)
        try await writer.sql("CREATE TABLE items (id TEXT PRIMARY KEY, price INTEGER)")
        clock.advance(by: 60_000)
        await #expect { try await writer.sql("INSERT INTO items VALUES ('apple', 1)") } throws: {
            ($0 as? P2PDBError)?.kind == .forbidden && ($0 as? P2PDBError)?.message.contains("expired") == true
        }
        try await writer.send(to: other)
        #expect(other.stateHash == writer.stateHash)
    }

    @Test func membershipSurvivesARestartAndAReplicaKeepsToItsNetwork() async throws {
        let key = NodeKey()
        let (directory, path) = try scratchPath()
        defer { try? FileManager.default.removeItem(at: directory) }
        let options = storeOptions(key, .writer)
        let first = try ReplicaStore(path: path, key: key, options: options)
        _ = try await first.execute([SQLRequest("CREATE TABLE items (id TEXT PRIMARY KEY)")])
        try await first.close()

        // Reopened without naming the network: it is still in it.
        var plain = StoreOptions(durability: .off, clock: clock)
        let second = try ReplicaStore(path: path, key: key, options: plain)
        #expect(second.summary.network == network)
        #expect(second.summary.role == .writer)
        let outsider = try await handMadeEntry(by: NodeKey(), carrying: nil, after: second)
        #expect(try await second.apply([outsider]).rejected.count == 1)
        #expect(try await second.verify().isValid)
        try await second.close()

        // Another network is refused, and so is an open replica that holds entries.
        plain.network = NetworkID(key: NodeKey())
        #expect(throws: P2PDBError.self) { _ = try ReplicaStore(path: path, key: key, options: plain) }
        let open = try TestReplica()
        try await open.sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        try await open.store.close()
        plain.network = network
        #expect(throws: P2PDBError.self) { _ = try ReplicaStore(path: open.path, key: open.key, options: plain) }
    }

    /// Random writes by writers, a reader and outsiders, delivered to every
    /// replica in random orders: the members converge, verify passes, and
    /// nothing written by the reader or an outsider is in any log.
    @Test(arguments: 0..<6)
    func randomTrafficConvergesAndKeepsNonWritersOut(seed: UInt64) async throws {
        var random = SeededGenerator(seed: seed)
        let writerKeys = [NodeKey(), NodeKey(), NodeKey()]
        let readerKey = NodeKey()
        let replicas = try writerKeys.map { try member(.writer, key: $0) } + [try member(.reader, key: readerKey)]
        try await replicas[0].sql("CREATE TABLE items (id INTEGER PRIMARY KEY, price INTEGER, name TEXT)")
        for replica in replicas.dropFirst() { try await replicas[0].send(to: replica) }
        var strays: [Entry] = []
        for _ in 0..<40 {
            let index = Int(random.next() % UInt64(replicas.count))
            let id = Int64(random.next() % 8)
            let statement = random.next() % 3 == 0 ? "DELETE FROM items WHERE id = ?" : "INSERT OR REPLACE INTO items VALUES (?, 1, 'x')"
            do {
                let result = try await replicas[index].sql(statement, [.integer(id)])
                #expect(index < writerKeys.count || result.entry == nil, "only writers write")
            } catch let error as P2PDBError {
                #expect(index == writerKeys.count && error.kind == .forbidden)
            }
            if random.next() % 4 == 0 {
                let outsider = NodeKey()
                let carried: Credential? =
                    random.next() % 2 == 0 ? credential(outsider, .writer, by: NodeKey()) : credential(readerKey, .reader)
                strays.append(try await handMadeEntry(by: random.next() % 2 == 0 ? outsider : readerKey, carrying: carried, after: replicas[index]))
            }
            // Deliver everything one replica holds to another, strays mixed in.
            let from = replicas[Int(random.next() % UInt64(replicas.count))]
            let to = replicas[Int(random.next() % UInt64(replicas.count))]
            var batch = try await from.entries() + strays
            batch.shuffle(using: &random)
            _ = try await to.store.apply(batch)
        }
        for _ in 0..<2 {
            for from in replicas { for to in replicas where to !== from { _ = try await to.store.apply(try await from.entries() + strays) } }
        }
        #expect(Set(replicas.map(\.stateHash)).count == 1)
        for replica in replicas {
            let authors = Set(try await replica.entries().map(\.author))
            #expect(authors.isSubset(of: Set(writerKeys.map(\.nodeID))))
            #expect(try await replica.store.verify().isValid)
        }
    }

    /// Two admins grant and revoke at random while writers write and
    /// entries travel in random orders: every replica ends with the same
    /// log and the same rows, and verify, which replays every decision from
    /// an empty replica, agrees with each.
    @Test(arguments: 0..<6)
    func randomGrantsAndRevocationsLeaveEveryReplicaInAgreement(seed: UInt64) async throws {
        var random = SeededGenerator(seed: seed)
        let keys = (0..<6).map { _ in NodeKey() }
        let roles: [NetworkRole] = [.admin, .admin, .writer, .writer, .writer, .reader]
        let replicas = try zip(keys, roles).map { try member($1, key: $0) }
        try await replicas[0].sql("CREATE TABLE items (id INTEGER PRIMARY KEY, price INTEGER)")
        for replica in replicas.dropFirst() { try await replicas[0].send(to: replica) }
        var refused = 0
        for _ in 0..<60 {
            let index = Int(random.next() % UInt64(replicas.count))
            let replica = replicas[index]
            do {
                if random.next() % 4 == 0 {
                    // Anyone but the first admin and the reader.
                    let target = keys[1 + Int(random.next() % 4)].nodeID
                    let change: MembershipChange =
                        random.next() % 2 == 0 ? .revoke(node: target) : .grant(node: target, role: [.reader, .writer][Int(random.next() % 2)])
                    _ = try await replica.store.administer([change])
                } else {
                    try await replica.sql("INSERT OR REPLACE INTO items VALUES (?, ?)", [.integer(Int64(random.next() % 8)), .integer(Int64(index))])
                }
            } catch let error as P2PDBError where error.kind == .forbidden {
                refused += 1
                #expect(replica.store.summary.role != .admin, "\(error.message)")
            }
            let from = replicas[Int(random.next() % UInt64(replicas.count))]
            var batch = try await from.entries()
            batch.shuffle(using: &random)
            _ = try await replicas[Int(random.next() % UInt64(replicas.count))].store.apply(batch)
        }
        for _ in 0..<3 {
            for from in replicas { for to in replicas where to !== from { _ = try await to.store.apply(try await from.entries()) } }
        }
        let logs = try await replicas.asyncMap { Set(try await $0.entries().map(\.id)) }
        #expect(Set(logs).count == 1)
        #expect(Set(replicas.map(\.stateHash)).count == 1)
        #expect(Set(replicas.map { $0.store.summary.membership?.facts.count ?? -1 }).count == 1)
        for replica in replicas { #expect(try await replica.store.verify().isValid) }
        #expect(try await replicas[0].entries().allSatisfy { $0.author != keys[5].nodeID }, "the reader never wrote")
        print("seed \(seed): \(logs[0].count) entries, \(refused) refused locally")
    }

    @Test func aRevocationTakesEffectInCausalOrderOnEveryReplica() async throws {
        let admin = try member(.admin)
        let writerKey = NodeKey()
        let writer = try member(.writer, key: writerKey)
        let other = try member(.writer)
        try await admin.sql("CREATE TABLE items (id INTEGER PRIMARY KEY, price INTEGER)")
        for replica in [writer, other] { try await admin.send(to: replica) }
        try await writer.sql("INSERT INTO items VALUES (1, 1)")
        try await writer.send(to: admin)
        // Partitioned: the admin revokes the writer while it keeps selling.
        _ = try await admin.store.administer([.revoke(node: writerKey.nodeID)])
        try await writer.sql("INSERT INTO items VALUES (2, 2)")
        // Healed, in either order: the concurrent sale stands everywhere.
        try await writer.send(to: other)
        try await admin.send(to: other)
        try await other.send(to: writer)
        try await writer.send(to: admin)
        #expect(Set([admin.stateHash, writer.stateHash, other.stateHash]).count == 1)
        #expect(try await admin.rows("SELECT count(*) FROM items") == [[.integer(2)]])
        // Having seen its revocation, the writer can write no more...
        await #expect { try await writer.sql("INSERT INTO items VALUES (3, 3)") } throws: {
            ($0 as? P2PDBError)?.kind == .forbidden && ($0 as? P2PDBError)?.message.contains("revoked") == true
        }
        // ...and an entry it signs by hand after the revocation is refused.
        let late = try await handMadeEntry(by: writerKey, seq: 3, carrying: nil, after: other)
        for replica in [admin, other] {
            #expect(try await replica.store.apply([late]).rejected.first?.1.contains("revoked") == true)
            #expect(try await replica.store.verify().isValid)
        }
        // Re-admitted: it writes again.
        _ = try await admin.store.administer([.grant(node: writerKey.nodeID, role: .writer)])
        try await admin.send(to: writer)
        try await writer.sql("INSERT INTO items VALUES (3, 3)")
        try await writer.send(to: other)
        #expect(try await other.rows("SELECT count(*) FROM items") == [[.integer(3)]])
    }

    @Test func aGrantAdmitsANodeWithoutACredentialAndOnlyAdminsGrant() async throws {
        let admin = try member(.admin)
        let writerKey = NodeKey()
        let writer = try member(.writer, key: writerKey)
        let newcomerKey = NodeKey()
        let newcomer = try member(nil, key: newcomerKey)
        try await admin.sql("CREATE TABLE items (id INTEGER PRIMARY KEY, price INTEGER)")
        try await admin.send(to: writer)
        try await writer.sql("INSERT INTO items VALUES (1, 1)")
        await #expect { _ = try await writer.store.administer([.grant(node: newcomerKey.nodeID, role: .admin)]) } throws: {
            ($0 as? P2PDBError)?.kind == .forbidden
        }
        try await admin.send(to: newcomer)
        await #expect { try await newcomer.sql("INSERT INTO items VALUES (2, 2)") } throws: { ($0 as? P2PDBError)?.kind == .forbidden }
        _ = try await admin.store.administer([.grant(node: newcomerKey.nodeID, role: .writer)])
        try await admin.send(to: newcomer)
        try await newcomer.sql("INSERT INTO items VALUES (2, 2)")
        #expect(newcomer.store.summary.role == .writer)
        try await newcomer.send(to: writer)
        try await admin.send(to: writer)
        #expect(try await writer.rows("SELECT count(*) FROM items") == [[.integer(2)]])
        #expect(try await writer.store.verify().isValid)
    }

    @Test func aTableRuleKeepsWritersOutOfATableOnEveryReplica() async throws {
        let headOffice = try member(.admin)
        let registerKey = NodeKey(), backOfficeKey = NodeKey()
        let register = try member(.writer, key: registerKey)
        let backOffice = try member(.writer, key: backOfficeKey)
        try await headOffice.sql("CREATE TABLE prices (item TEXT PRIMARY KEY, cents INTEGER)")
        try await headOffice.sql("CREATE TABLE sales (id INTEGER PRIMARY KEY, item TEXT)")
        // Written before the rule: stands.
        try await headOffice.send(to: register)
        try await register.sql("INSERT INTO prices VALUES ('apple', 30)")
        try await register.send(to: headOffice)
        _ = try await headOffice.store.administer([.restrict(table: "PRICES", rule: TableRule(minimumRole: .admin, nodes: [backOfficeKey.nodeID]))])
        for replica in [register, backOffice] { try await headOffice.send(to: replica) }
        await #expect { try await register.sql("UPDATE prices SET cents = 1") } throws: {
            ($0 as? P2PDBError)?.kind == .forbidden && ($0 as? P2PDBError)?.message.contains("restricted") == true
        }
        await #expect { try await register.sql("ALTER TABLE prices ADD COLUMN note TEXT") } throws: { ($0 as? P2PDBError)?.kind == .forbidden }
        try await register.sql("INSERT INTO sales VALUES (1, 'apple')")
        try await backOffice.sql("UPDATE prices SET cents = 35")
        try await headOffice.sql("INSERT INTO prices VALUES ('pear', 40)")
        // A register's hand-signed price change after the rule is refused by all.
        let forged = try await handMadeEntry(by: registerKey, seq: 3, carrying: nil, table: "prices", after: headOffice)
        for replica in [register, backOffice] {
            try await headOffice.send(to: replica)
            try await backOffice.send(to: replica)
            try await register.send(to: replica)
        }
        try await register.send(to: headOffice)
        try await backOffice.send(to: headOffice)
        #expect(try await headOffice.store.apply([forged]).rejected.first?.1.contains("restricted") == true)
        #expect(Set([headOffice.stateHash, register.stateHash, backOffice.stateHash]).count == 1)
        #expect(try await register.rows("SELECT item, cents FROM prices ORDER BY item") == [[.text("apple"), .integer(35)], [.text("pear"), .integer(40)]])
        #expect(headOffice.store.summary.membership?.rule(for: "Prices").minimumRole == .admin)
        #expect(try await register.store.verify().isValid)
    }

    @Test func grantsAndRevocationsSurviveARestart() async throws {
        let key = NodeKey()
        let (directory, path) = try scratchPath()
        defer { try? FileManager.default.removeItem(at: directory) }
        let options = storeOptions(key, .admin)
        let revoked = NodeKey(), granted = NodeKey()
        let first = try ReplicaStore(path: path, key: key, options: options)
        _ = try await first.execute([SQLRequest("CREATE TABLE items (id INTEGER PRIMARY KEY, price INTEGER)")])
        _ = try await first.administer([.grant(node: granted.nodeID, role: .reader), .revoke(node: revoked.nodeID)])
        let before = first.summary.membership
        try await first.close()
        let second = try ReplicaStore(path: path, key: key, options: StoreOptions(durability: .off, clock: clock))
        #expect(second.summary.membership == before)
        #expect(second.summary.membership?.role(of: granted.nodeID) == .reader)
        #expect(second.summary.membership?.standing(of: revoked.nodeID) == .revoked(by: key.nodeID))
        #expect(try await second.verify().isValid)
        try await second.close()
    }

    /// An entry signed by `author` that inserts a row into `items`, after
    /// everything `replica` holds, carrying `credential` if given.
    private func handMadeEntry(
        by author: NodeKey, seq: UInt64 = 1, carrying credential: Credential?, table: String = "items", after replica: TestReplica
    ) async throws -> Entry {
        try await handMadeEntry(by: author, seq: seq, carrying: credential, table: table, after: replica.store)
    }

    private func handMadeEntry(
        by author: NodeKey, seq: UInt64 = 1, carrying credential: Credential?, table: String = "items", after store: ReplicaStore
    ) async throws -> Entry {
        let summary = store.summary
        let row = RowChange(
            kind: .insert, causalLength: 1, primaryKey: [.integer(Int64.random(in: 100...1_000_000))],
            values: [ColumnValue(column: 0, value: .integer(0))])
        let payload = EntryPayload(
            tableChanges: [TableChanges(table: table, primaryKeyColumns: ["id"], columns: ["price"], rows: [row])],
            membership: credential.map { [.credential($0)] } ?? [])
        return Entry.make(
            author: author, seq: seq, lamport: summary.lamport + 1, parents: summary.heads, wallTime: clock.now(), payload: payload)
    }
}


extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
