import Foundation
import GRDB
import P2PDBCore
import P2PDBStorage
import Testing

@Suite("Log, equivocation and verification")
struct LogTests {
    @Test func entriesCarryTheDAG() async throws {
        let a = try TestReplica()
        let b = try TestReplica()
        try await a.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        try await a.send(to: b)
        try await a.sql("INSERT INTO t VALUES (1, 'a')")
        try await b.sql("INSERT INTO t VALUES (2, 'b')")
        try await syncAll([a, b])
        try await a.sql("INSERT INTO t VALUES (3, 'merge')")
        let entries = try await a.entries()
        let last = try #require(entries.last)
        #expect(last.parents.count == 2)
        #expect(last.seq == 3)
        #expect(last.lamport == 3)
        #expect(a.store.summary.heads == [last.id])
        #expect(a.store.summary.versionVector[a.key.nodeID] == 3)
        #expect(a.store.summary.versionVector[b.key.nodeID] == 1)
        let stored = try #require(try await a.store.entry(last.id))
        #expect(stored.entry.bytes == last.bytes)
    }

    @Test func equivocationIsKeptReportedAndMergedDeterministically() async throws {
        let liar = NodeKey()
        let setup = try TestReplica(key: liar)
        try await setup.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, n COUNTER INTEGER NOT NULL DEFAULT 0)")
        let base = try await setup.entries()
        // Two different entries with the liar's sequence number 2.
        let makeFork = { (value: String, delta: Int64) in
            Entry.make(
                author: liar, seq: 2, lamport: 2, parents: [base[0].id], wallTime: 0,
                payload: EntryPayload(tableChanges: [
                    TableChanges(
                        table: "t", primaryKeyColumns: ["id"], columns: ["v", "n"],
                        rows: [RowChange(kind: .insert, causalLength: 1, primaryKey: [1],
                                         values: [ColumnValue(column: 0, value: .text(value))], deltas: [ColumnDelta(column: 1, delta: delta)])])
                ]))
        }
        let fork1 = makeFork("one", 1)
        let fork2 = makeFork("two", 10)
        let x = try TestReplica()
        let y = try TestReplica()
        _ = try await x.store.apply(base + [fork1, fork2])
        _ = try await y.store.apply(base + [fork2, fork1])
        let equivocations = try await x.store.equivocations()
        #expect(equivocations.count == 1)
        #expect(equivocations.first?.author == liar.nodeID)
        #expect(Set(equivocations.first?.entries ?? []) == [fork1.id, fork2.id])
        #expect(try await y.store.equivocations().count == 1)
        #expect(x.stateHash == y.stateHash)
        #expect(try await x.rows("SELECT v, n FROM t") == [["two", 11]])
        try await expectConverged([x, y])
    }

    /// Two equivocating entries define one table at one origin (stamp,
    /// change, column position): their definitions decide, in any arrival
    /// order (found by the `signed` fuzz target).
    @Test func equivocatingSchemaChangesAtOneOriginConverge() async throws {
        let liar = NodeKey()
        func table(_ counter: String) -> SchemaChange {
            .createTable(TableDefinition(
                name: "items",
                columns: [
                    ColumnDefinition(name: "id", declaredType: "TEXT"),
                    ColumnDefinition(name: counter, declaredType: "COUNTER INTEGER", notNull: true, defaultSQL: "0"),
                ],
                primaryKey: ["id"]))
        }
        let first = Entry.make(
            author: liar, seq: 1, lamport: 1, parents: [], wallTime: 0, payload: EntryPayload(schemaChanges: [table("stock")]))
        let fork = Entry.make(
            author: liar, seq: 1, lamport: 1, parents: [], wallTime: 0, payload: EntryPayload(schemaChanges: [table("sock")]))
        let rows = Entry.make(
            author: liar, seq: 2, lamport: 2, parents: [first.id], wallTime: 0,
            payload: EntryPayload(
                schemaChanges: [.addColumn(table: "items", column: ColumnDefinition(name: "label", declaredType: "TEXT", defaultSQL: "'x'"))],
                tableChanges: [
                    TableChanges(
                        table: "items", primaryKeyColumns: ["id"], columns: ["stock", "label"],
                        rows: [RowChange(kind: .insert, causalLength: 1, primaryKey: [.text("apple")],
                                         values: [ColumnValue(column: 1, value: .text("green"))], deltas: [ColumnDelta(column: 0, delta: 37)])])
                ]))
        var replicas: [TestReplica] = []
        for order in [[first, rows, fork], [fork, first, rows], [first, fork, rows]] {
            let replica = try TestReplica()
            for entry in order { _ = try await replica.store.apply([entry]) }
            #expect(try await replica.store.verify().problems == [])
            replicas.append(replica)
        }
        #expect(try await replicas[0].rows("SELECT id, label FROM items") == [[.text("apple"), .text("green")]])
        try await expectConverged(replicas)
    }

    @Test func entriesWaitForMissingParents() async throws {
        let a = try TestReplica()
        try await a.sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        try await a.sql("INSERT INTO t VALUES (1)")
        try await a.sql("INSERT INTO t VALUES (2)")
        let entries = try await a.entries()
        let b = try TestReplica()
        let first = try await b.store.apply([entries[2]])
        #expect(first.pending == 1)
        #expect(try await b.store.pendingCount() == 1)
        _ = try await b.store.apply([entries[1]])
        #expect(try await b.store.pendingCount() == 2)
        let last = try await b.store.apply([entries[0]])
        #expect(last.applied == 3)
        #expect(try await b.store.pendingCount() == 0)
        try await expectConverged([a, b])
    }

    @Test func anEntryParkedAndThenAppliedLeavesNothingWaiting() async throws {
        // Found by the simulator: a copy that arrived before its parent was
        // parked, a later copy applied directly, and the parked one stayed.
        let a = try TestReplica()
        try await a.sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        try await a.sql("INSERT INTO t VALUES (1)")
        let entries = try await a.entries()
        let b = try TestReplica()
        _ = try await b.store.apply([entries[1], entries[0], entries[1]])
        #expect(try await b.store.pendingCount() == 0)
        let c = try TestReplica()
        _ = try await c.store.apply([entries[1]])
        _ = try await c.store.apply([entries[0], entries[1]])
        #expect(try await c.store.pendingCount() == 0)
        try await expectConverged([a, b, c])
    }

    @Test func waitingEntriesAreBoundedAndDrainInOnePass() async throws {
        let a = try TestReplica()
        try await a.sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        for id in 1...3 { try await a.sql("INSERT INTO t VALUES (?)", [.integer(Int64(id))]) }
        let entries = try await a.entries()
        let b = try TestReplica(maximumPending: 2)
        let parked = try await b.store.apply([entries[3], entries[2], entries[1]])
        #expect(parked.pending == 2)
        #expect(parked.rejected.map(\.0) == [entries[1].id])
        #expect(parked.rejected.first?.1.contains("send the parents first") == true)
        let root = try await b.store.apply([entries[0]])
        #expect(root.applied == 1)
        let rest = try await b.store.apply([entries[1]])
        #expect(rest.applied == 3)
        #expect(try await b.store.pendingCount() == 0)
        try await expectConverged([a, b])
    }

    @Test func invalidEntriesAreRejected() async throws {
        let author = NodeKey()
        let a = try TestReplica(key: author)
        try await a.sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        let base = try await a.entries()
        let lowClock = Entry.make(author: author, seq: 2, lamport: 1, parents: [base[0].id], wallTime: 0, payload: EntryPayload())
        let skipping = Entry.make(author: author, seq: 5, lamport: 9, parents: [base[0].id], wallTime: 0, payload: EntryPayload())
        // A clock that leaps ahead would win every register from then on.
        let leaping = Entry.make(
            author: author, seq: 2, lamport: base[0].lamport + (1 << 32) + 1, parents: [base[0].id], wallTime: 0,
            payload: EntryPayload())
        let b = try TestReplica()
        let report = try await b.store.apply(base + [lowClock, skipping, leaping])
        #expect(report.applied == 1)
        #expect(report.rejected.count == 3)
        #expect(report.rejected.contains { $0.0 == leaping.id && $0.1.contains("leaps") })
        await #expect(throws: P2PDBError.self) { _ = try await b.store.apply([lowClock], atomic: true) }
    }

    @Test func bundleImportIsAllOrNothing() async throws {
        let a = try TestReplica()
        try await a.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        for index in 1...5 { try await a.sql("INSERT INTO t VALUES (?, 'x')", [.integer(Int64(index))]) }
        let (bundle, count) = try await a.store.exportBundle()
        #expect(count == 6)
        let b = try TestReplica()
        // Truncated, bit-flipped, forged: nothing changes.
        await #expect(throws: P2PDBError.self) { _ = try await b.store.importBundle(Array(bundle.dropLast(40))) }
        var flipped = bundle
        flipped[flipped.count / 2] ^= 0x10
        await #expect(throws: P2PDBError.self) { _ = try await b.store.importBundle(flipped) }
        let entries = try await a.entries()
        var forgedBody = entries[3].bytes
        forgedBody[forgedBody.count - 70] ^= 1
        let forged = BundleCodec.encode(entries.prefix(3).map(\.bytes) + [forgedBody])
        await #expect(throws: P2PDBError.self) { _ = try await b.store.importBundle(forged) }
        #expect(b.store.summary.entryCount == 0)
        #expect(try await b.snapshot().isEmpty)
        // The genuine bundle, twice.
        #expect(try await b.store.importBundle(bundle).applied == 6)
        let before = b.store.summary
        #expect(try await b.store.importBundle(bundle).duplicates == 6)
        #expect(b.store.summary == before)
        // Incremental export.
        try await a.sql("INSERT INTO t VALUES (9, 'new')")
        let (delta, deltaCount) = try await a.store.exportBundle(since: b.store.summary.versionVector)
        #expect(deltaCount == 1)
        _ = try await b.store.importBundle(delta)
        try await expectConverged([a, b])
    }

    @Test func verifyFindsEveryKindOfTampering() async throws {
        let tamperings: [(String, String)] = [
            ("UPDATE t SET v = 'edited' WHERE id = 2", "column v"),
            ("INSERT INTO t VALUES (99, 'sneaky')", "not derived from the log"),
            ("DELETE FROM t WHERE id = 1", "missing from the file"),
            (
                // Flip the last byte of the signature, whatever it was.
                "UPDATE _p2pdb_entries SET body = CAST(substr(body, 1, length(body) - 1) || CASE WHEN substr(body, -1) = x'00' THEN x'01' ELSE x'00' END AS BLOB) WHERE position = 2",
                "signature"
            ),
            ("DELETE FROM _p2pdb_rows WHERE pk = (SELECT pk FROM _p2pdb_rows LIMIT 1)", "metadata"),
            ("UPDATE _p2pdb_meta SET value = zeroblob(32) WHERE key = 'rows_hash'", "state hash"),
            ("CREATE TABLE rogue (x)", "outside P2PDB"),
            ("DELETE FROM _p2pdb_heads", "heads"),
            ("UPDATE _p2pdb_authors SET contiguous_seq = contiguous_seq + 5", "version vector"),
            ("DELETE FROM _p2pdb_schema_changes", "schema changes"),
            ("DROP INDEX t_by_v", "indexes"),
            ("CREATE INDEX sneaky ON t(id, v)", "indexes"),
            // P2PDB's own schema: an internal index dropped, replaced by
            // another on other columns, or an internal-looking table added.
            ("DROP INDEX _p2pdb_entries_by_author", "_p2pdb_entries_by_author is missing or altered"),
            (
                "DROP INDEX _p2pdb_entries_by_author; CREATE INDEX _p2pdb_entries_by_author ON _p2pdb_entries(position)",
                "_p2pdb_entries_by_author is missing or altered"
            ),
            ("CREATE TABLE _p2pdb_rogue (x)", "_p2pdb_rogue in the file is not one of P2PDB's own"),
        ]
        for (tampering, expected) in tamperings {
            let replica = try TestReplica()
            try await replica.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
            try await replica.sql("INSERT INTO t VALUES (1, 'one'), (2, 'two')")
            try await replica.sql("CREATE INDEX t_by_v ON t(v)")
            #expect(try await replica.store.verify().isValid)
            // Alter the file behind P2PDB's back, as the sqlite3 shell would.
            let queue = try DatabaseQueue(path: replica.path)
            try await queue.write { try $0.execute(sql: tampering) }
            try queue.close()
            let report = try await replica.store.verify()
            #expect(!report.isValid, "\(tampering) went unnoticed")
            #expect(report.problems.first?.contains(expected) == true, "\(tampering): \(report.problems)")
        }
    }

    /// SQLite keeps text byte for byte, NULs included; every read path that
    /// feeds a digest must too (found by the `signed` fuzz target).
    @Test func textHoldingANulByteReplicatesAndVerifies() async throws {
        let a = try TestReplica()
        try await a.sql("CREATE TABLE t (id TEXT PRIMARY KEY, v TEXT)")
        try await a.sql("INSERT INTO t VALUES (?, ?)", [.text("pea\u{0}"), .text("x\u{0}y")])
        #expect(try await a.store.verify().problems == [])
        let b = try TestReplica()
        try await a.send(to: b)
        #expect(try await b.rows("SELECT id, v FROM t") == [[.text("pea\u{0}"), .text("x\u{0}y")]])
        try await expectConverged([a, b])
    }

    /// A table rebuilt for another replica's definition takes its rows out
    /// of the state hash as they are stored, NUL bytes included (found by
    /// the `signed` fuzz target).
    @Test func aRebuiltTableKeepsTextHoldingANulInTheStateHash() async throws {
        let a = try TestReplica()
        let b = try TestReplica()
        try await a.sql("CREATE TABLE items (id TEXT PRIMARY KEY, stock COUNTER INTEGER NOT NULL DEFAULT 0)")
        try await a.sql("ALTER TABLE items ADD COLUMN label TEXT DEFAULT 'x'")
        try await a.sql("INSERT INTO items(id, stock, label) VALUES (?, 37, 'green')", [.text("app\u{0}e")])
        // A column ordered before `label` everywhere: a rebuilds the table.
        try await b.sql("CREATE TABLE items (id TEXT PRIMARY KEY, sock COUNTER INTEGER NOT NULL DEFAULT 0)")
        try await b.send(to: a)
        try await a.send(to: b)
        #expect(try await a.store.verify().problems == [])
        #expect(try await b.store.verify().problems == [])
        try await expectConverged([a, b])
    }

    @Test func clocksThatWouldOverflowSQLiteIntegersAreMalformed() throws {
        let author = NodeKey()
        for (lamport, causalLength) in [(EntryCodec.maximumCounter + 1, UInt64(1)), (UInt64.max, 1), (1, EntryCodec.maximumCounter + 2)] {
            let row = RowChange(kind: .insert, causalLength: causalLength, primaryKey: [.integer(1)])
            let payload = EntryPayload(
                schemaChanges: [], tableChanges: [TableChanges(table: "t", primaryKeyColumns: ["id"], columns: [], rows: [row])])
            let entry = Entry.make(author: author, seq: 1, lamport: lamport, parents: [], wallTime: 0, payload: payload)
            #expect(throws: EntryError.self) { _ = try Entry(bytes: entry.bytes) }
        }
    }

    /// A replica file of an older storage version (here 1: integer keys of
    /// `_p2pdb_rows` as varints, and a stale state hash) opens, is derived
    /// again from its log, and merges as before.
    @Test func anOlderReplicaFileIsDerivedAgainFromItsLog() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("p2pdb-upgrade-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("replica.sqlite").path
        let key = NodeKey()
        let ids: [Int64] = [-300, -1, 0, 1, 127, 128, 1 << 40, .max]
        var store = try ReplicaStore(path: path, key: key)
        _ = try await store.execute([SQLRequest("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, n COUNTER INTEGER NOT NULL DEFAULT 0)")])
        for id in ids { _ = try await store.execute([SQLRequest("INSERT INTO t VALUES (?, 'v', 0)", [.integer(id)])]) }
        _ = try await store.execute([SQLRequest("UPDATE t SET v = 'w' WHERE id = 1")])
        _ = try await store.execute([SQLRequest("DELETE FROM t WHERE id = 128")])
        let hash = store.summary.stateHash
        try await store.close()

        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            for id in ids {
                var ordered = ByteWriter()
                ordered.writeByte(1)
                ordered.writeUInt64BigEndian(UInt64(bitPattern: id) ^ (1 << 63))
                var varint = ByteWriter()
                varint.writeValue(.integer(id))
                try db.execute(
                    sql: "UPDATE _p2pdb_rows SET pk = ? WHERE pk = ?",
                    arguments: [Data(varint.bytes), Data(ordered.bytes)])
                #expect(db.changesCount == 1, "row \(id) is not keyed by its big-endian encoding")
            }
            try db.execute(sql: "UPDATE _p2pdb_meta SET value = 1 WHERE key = 'storage_version'")
            try db.execute(sql: "UPDATE _p2pdb_meta SET value = zeroblob(32) WHERE key = 'rows_hash'")
        }
        try queue.close()

        store = try ReplicaStore(path: path, key: key)
        #expect(store.summary.stateHash == hash)
        #expect(try await store.verify().problems == [])
        // The upgraded metadata is found: the re-insert after the delete
        // outranks it, the update and the counter merge on the old rows.
        _ = try await store.execute([SQLRequest("INSERT INTO t VALUES (128, 'back', 0)")])
        _ = try await store.execute([SQLRequest("UPDATE t SET v = 'x', n = n + 2 WHERE id = 1")])
        #expect(try await store.verify().problems == [])
        let other = try TestReplica()
        _ = try await other.store.apply(try await store.entries(after: 0, limit: .max).map(\.entry))
        #expect(other.stateHash == store.summary.stateHash)
        #expect(try await other.rows("SELECT v, n FROM t WHERE id IN (1, 128) ORDER BY id") == [[.text("x"), .integer(2)], [.text("back"), .integer(0)]])
        try await store.close()
        let version = try await DatabaseQueue(path: path).read { try Int.fetchOne($0, sql: "SELECT value FROM _p2pdb_meta WHERE key = 'storage_version'") }
        #expect(version == 3)
    }

    @Test func durabilityDefaultsToFull() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("p2pdb-default-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try ReplicaStore(path: directory.appendingPathComponent("replica.sqlite").path, key: NodeKey())
        #expect(try store.synchronousSetting() == 2)
        try await store.close()
        let replica = try TestReplica(durability: .full)
        #expect(try replica.store.synchronousSetting() == 2)
        let relaxed = try TestReplica(durability: .normal)
        #expect(try relaxed.store.synchronousSetting() == 1)
    }

    @Test func changeFeedDeliversLocalAndRemoteEntries() async throws {
        let a = try TestReplica()
        let b = try TestReplica()
        let feed = b.store.changes()
        try await a.sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        try await a.send(to: b)
        try await b.sql("INSERT INTO t VALUES (1)")
        var received: [AppliedEntry] = []
        for await applied in feed {
            received.append(applied)
            if received.count == 2 { break }
        }
        #expect(received.map(\.position) == [1, 2])
        #expect(received[1].entry.author == b.key.nodeID)
    }
}
