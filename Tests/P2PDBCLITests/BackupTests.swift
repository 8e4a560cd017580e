import Foundation
import GRDB
import P2PDB
import P2PDBTestSupport
import Testing

/// `backup`, `restore` and `rebuild` as processes: copies of a running node,
/// restores that keep the identity without ever reusing a sequence number,
/// and rebuilds of damaged replicas that keep the node's own entries.
@Suite("backup, restore, rebuild", .serialized)
struct BackupTests {
    /// Random contents that a failure's seed reproduces.
    typealias Seeded = SeededGenerator

    /// A value of any SQLite storage class, edge cases included.
    static func randomValue(_ random: inout Seeded) -> Value {
        let pieces = ["a", "\u{0}", "é", "日本", "🙂", "'", "\"", "\\", "\n", " "]
        let specialReals = [-0.0, 0.0, 2.0, -7.0, 1e300, .leastNonzeroMagnitude, 0.1]
        let specialIntegers: [Int64] = [0, 1, -1, .max, .min]
        switch Int.random(in: 0..<8, using: &random) {
        case 0: return .null
        case 1: return .integer(Int64.random(in: .min ... .max, using: &random))
        case 2: return .integer(specialIntegers[Int.random(in: 0..<specialIntegers.count, using: &random)])
        case 3: return .real(Double.random(in: -1e9...1e9, using: &random))
        case 4: return .real(specialReals[Int.random(in: 0..<specialReals.count, using: &random)])
        case 5: return .real(Double(Int.random(in: -1000...1000, using: &random)))
        case 6: return .text((0..<Int.random(in: 0...8, using: &random)).map { _ in pieces[Int.random(in: 0..<pieces.count, using: &random)] }.joined())
        default: return .blob((0..<Int.random(in: 0...40, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) })
        }
    }

    static let schema = "CREATE TABLE t (id INTEGER PRIMARY KEY, v, r REAL, s TEXT)"

    /// One insert of a few random rows, as `/v1/sql` takes it.
    static func insert(_ random: inout Seeded, from id: Int) -> JSON {
        let count = Int.random(in: 1...4, using: &random)
        var params: [JSON] = []
        for row in 0..<count {
            params += [.integer(id + row), randomValue(&random).json, randomValue(&random).json, randomValue(&random).json]
        }
        let rows = Array(repeating: "(?, ?, ?, ?)", count: count).joined(separator: ", ")
        return .object([("sql", .string("INSERT INTO t VALUES \(rows)")), ("params", .array(params))])
    }

    /// A value as a SQL literal: a command line cannot carry a NUL.
    static func literal(_ value: Value) -> String {
        switch value {
        case .null: return "NULL"
        case .integer(let integer): return integer == .min ? "(-9223372036854775807 - 1)" : "\(integer)"
        case .real(let real): return "(\(real.sign == .minus && real == 0 ? "-0.0" : "\(real)"))"
        case .text(let text): return "CAST(X'\(Hex.encode(Array(text.utf8)))' AS TEXT)"
        case .blob(let bytes): return "X'\(Hex.encode(bytes))'"
        }
    }

    /// An insert of a few random rows through `p2pdb sql --data`.
    static func insertArguments(_ random: inout Seeded, from id: Int, data: String) -> [String] {
        let rows = (0..<Int.random(in: 1...4, using: &random)).map { row in
            "(\(id + row), " + (0..<3).map { _ in literal(randomValue(&random)) }.joined(separator: ", ") + ")"
        }
        return ["sql", "--data", data, "INSERT INTO t VALUES " + rows.joined(separator: ", ")]
    }

    static func rows(_ data: String) throws -> String {
        let output = try p2pdb("sql", "--data", data, "--json", "SELECT id, v, typeof(v), r, typeof(r), s, typeof(s) FROM t ORDER BY id")
        #expect(output.status == 0, "\(output.stderr)")
        return output.stdout
    }

    static func status(_ data: String) throws -> JSON { try JSON.parse(try p2pdb("status", "--data", data, "--json").stdout) }

    /// The node's own entries in a log, as (seq, entry ID).
    static func ownEntries(_ data: String, node: String) throws -> [(seq: Int, id: String)] {
        let log = try JSON.parse(try p2pdb("log", "--data", data, "--json", "--limit", "100000").stdout)
        let entries = log["entries"]?.arrayValue ?? log.arrayValue ?? []
        return entries.compactMap { entry in
            guard entry["author"]?.stringValue == node, let seq = entry["seq"]?.intValue, let id = entry["id"]?.stringValue else { return nil }
            return (seq, id)
        }
    }

    static func fileMode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int ?? -1) & 0o777
    }

    @Test func aRunningNodeIsBackedUpWhileItWritesAndRestoresOntoAnEmptyDirectory() async throws {
        let seed = UInt64.random(in: 0 ... .max)
        var random = Seeded(seed: seed)
        let temp = try TemporaryDirectory()
        let a = temp.path("a")
        let server = try ServeProcess(data: a)
        defer { server.stop(SIGKILL) }
        let token = try DataDirectory(path: a).apiToken()
        let nodeID = try DataDirectory(path: a).loadKey().nodeID.hex
        #expect(try await httpRequest("POST", server.url + "/v1/sql", token: token, body: #"{"sql": "\#(Self.schema)"}"#).0 == 200)
        var nextID = 1
        for _ in 0..<10 {
            let request = Self.insert(&random, from: nextID)
            nextID += 100
            #expect(try await httpRequest("POST", server.url + "/v1/sql", token: token, body: request.text).0 == 200, "seed \(seed)")
        }
        // Writes go on while the backup is made.
        let requests = (0..<30).map { index in Self.insert(&random, from: nextID + index * 100).text }
        let url = server.url
        let writer = Task {
            var acknowledged = 0
            for request in requests {
                if try await httpRequest("POST", url + "/v1/sql", token: token, body: request).0 == 200 { acknowledged += 1 }
            }
            return acknowledged
        }
        let backupFile = temp.path("a.backup")
        let backedUp = try p2pdb("backup", "--data", a, "--out", backupFile, "--json")
        #expect(try await writer.value == 30)
        #expect(backedUp.status == 0, "\(backedUp.stderr)")
        let backup = try JSON.parse(backedUp.stdout)
        let entries = try #require(backup["entries"]?.intValue)
        #expect(entries >= 11 && entries <= 41, "\(backup)")
        #expect(backup["node"] == .string(nodeID) && backup["file"] == .string(backupFile))
        #expect(backup["files"] == .array(["node.key", "api.token"].map(JSON.string)), "\(backup)")
        #expect(try Self.fileMode(backupFile) == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: a).allSatisfy { !$0.hasPrefix("backup-") }, "the node's temporary copy is gone")
        // Only the admin token may copy the whole replica.
        #expect(try await httpRequest("GET", server.url + "/v1/backup", token: "wrong-token-wrong-token").0 == 401)

        // Restored onto a directory that does not exist yet: the snapshot
        // is one commit's (verify re-derives it), and the key is kept.
        let r = temp.path("r")
        let restored = try p2pdb("restore", "--data", r, backupFile, "--json")
        #expect(restored.status == 0, "\(restored.stderr)")
        let restore = try JSON.parse(restored.stdout)
        #expect(restore["node"] == .string(nodeID) && restore["entries"] == .integer(entries) && restore["same_key"] == .bool(true))
        #expect(restore["awaiting_own_history"] == .bool(true))
        #expect(try Self.fileMode(r + "/node.key") == 0o600 && Self.fileMode(r) == 0o700)
        #expect(try p2pdb("verify", "--data", r).status == 0)
        #expect(try Self.status(r)["entries"] == .integer(entries))
        // It may have written after the backup: no local write until it knows.
        let refused = try p2pdb("sql", "--data", r, "INSERT INTO t (id) VALUES (-1)")
        #expect(refused.status == 1 && refused.stderr.contains("created anew for an existing node key"), "\(refused.stderr)")

        // The rest arrives from the running node; then both hold the same.
        server.stop(SIGTERM)
        let bundle = temp.path("a.bundle")
        #expect(try p2pdb("export", "--data", a, "--out", bundle).status == 0)
        #expect(try p2pdb("import", "--data", r, bundle).status == 0)
        #expect(try Self.rows(r) == Self.rows(a), "seed \(seed)")
        #expect(try Self.status(r)["state_hash"] == Self.status(a)["state_hash"], "seed \(seed)")
        #expect(try Self.status(r)["awaiting_own_history"] == .bool(false))
        let lastSeq = try #require(Self.ownEntries(a, node: nodeID).map(\.seq).max())
        #expect(try p2pdb("sql", "--data", r, "INSERT INTO t (id) VALUES (-1)").status == 0)
        #expect(try Self.ownEntries(r, node: nodeID).map(\.seq).max() == lastSeq + 1, "the next sequence number, not a reused one")
    }

    @Test func restoreRefusesANonEmptyDirectoryAndABadFileAndABackupWithoutKeyIsANewNode() async throws {
        var random = Seeded(seed: UInt64.random(in: 0 ... .max))
        let temp = try TemporaryDirectory()
        let a = temp.path("a")
        try p2pdb("init", "--data", a)
        #expect(try p2pdb("sql", "--data", a, Self.schema).status == 0)
        #expect(try p2pdb(arguments: Self.insertArguments(&random, from: 1, data: a)).status == 0)
        // Offline: the same copy, made in this process; to standard output.
        let piped = try ChildProcess.run("/bin/sh", ["-c", #""$0" backup --data "$1" --out - > "$2""#, p2pdbBinary.path, a, temp.path("a.backup")])
        #expect(piped.status == 0 && piped.stderr.contains("backed up 2 entries"), "\(piped.stderr)")

        // From standard input.
        let fromPipe = try ChildProcess.run(
            "/bin/sh", ["-c", #""$0" restore --data "$1" - --json < "$2""#, p2pdbBinary.path, temp.path("p"), temp.path("a.backup")])
        #expect(fromPipe.status == 0, "\(fromPipe.stderr)")
        #expect(try JSON.parse(fromPipe.stdout)["entries"] == .integer(2))
        #expect(try Self.rows(temp.path("p")) == Self.rows(a))

        // A directory with anything in it is left exactly as it was.
        let x = temp.path("x")
        try p2pdb("init", "--data", x)
        let before = try FileManager.default.contentsOfDirectory(atPath: x).sorted().map { ($0, FileManager.default.contents(atPath: x + "/" + $0)) }
        let refused = try p2pdb("restore", "--data", x, temp.path("a.backup"))
        #expect(refused.status == 1 && refused.stderr.contains("is not empty"), "\(refused.stderr)")
        let after = try FileManager.default.contentsOfDirectory(atPath: x).sorted().map { ($0, FileManager.default.contents(atPath: x + "/" + $0)) }
        #expect(before.map(\.0) == after.map(\.0) && before.map(\.1) == after.map(\.1))

        // A file that is not a backup: status 4, no directory made.
        let junk = temp.path("junk")
        #expect(FileManager.default.createFile(atPath: junk, contents: Data((0..<4096).map { _ in UInt8.random(in: 0...255) })))
        let bad = try p2pdb("restore", "--data", temp.path("j"), junk)
        #expect(bad.status == 4 && bad.stderr.contains("not a P2PDB backup"), "\(bad.stderr)")
        #expect(!FileManager.default.fileExists(atPath: temp.path("j")))

        // Through --url alone: data without identity, restored as a new node
        // that writes at once (its key never wrote).
        let server = try ServeProcess(data: a)
        defer { server.stop(SIGKILL) }
        let token = try DataDirectory(path: a).apiToken()
        let dataOnly = try p2pdb("backup", "--url", server.url, "--token", token, "--out", temp.path("data.backup"), "--json")
        #expect(dataOnly.status == 0, "\(dataOnly.stderr)")
        #expect(try JSON.parse(dataOnly.stdout)["files"] == .array([]))
        let n = temp.path("n")
        let fresh = try JSON.parse(try p2pdb("restore", "--data", n, temp.path("data.backup"), "--json").stdout)
        #expect(fresh["same_key"] == .bool(false) && fresh["awaiting_own_history"] == .bool(false) && fresh["entries"] == .integer(2))
        #expect(fresh["node"] != .string(try DataDirectory(path: a).loadKey().nodeID.hex))
        #expect(try p2pdb("sql", "--data", n, "INSERT INTO t (id) VALUES (-1)").status == 0)
        #expect(try p2pdb("verify", "--data", n).status == 0)
    }

    /// Damage found by verify names the commands that repair it; rebuild
    /// keeps the key and every own entry the damaged file still holds,
    /// and goes on at the next sequence number.
    @Test func aDamagedReplicaIsRebuiltWithItsKeyAndItsOwnEntries() throws {
        let seed = UInt64.random(in: 0 ... .max)
        var random = Seeded(seed: seed)
        let temp = try TemporaryDirectory()
        let a = temp.path("a")
        try p2pdb("init", "--data", a)
        let nodeID = try DataDirectory(path: a).loadKey().nodeID.hex
        let key = FileManager.default.contents(atPath: a + "/node.key")
        #expect(try p2pdb("sql", "--data", a, Self.schema).status == 0)
        for index in 0..<6 { #expect(try p2pdb(arguments: Self.insertArguments(&random, from: index * 100, data: a)).status == 0) }
        // What a peer holds; the entries after it exist only here.
        #expect(try p2pdb("export", "--data", a, "--out", temp.path("peer.bundle")).status == 0)
        for index in 6..<12 { #expect(try p2pdb(arguments: Self.insertArguments(&random, from: index * 100, data: a)).status == 0) }
        let rows = try Self.rows(a)
        let hash = try Self.status(a)["state_hash"]
        let old = try Self.ownEntries(a, node: nodeID)
        #expect(old.count == 13)

        // A row changed behind P2PDB's back.
        let queue = try DatabaseQueue(path: a + "/replica.sqlite")
        try queue.write { try $0.execute(sql: "UPDATE t SET s = 'tampered' WHERE id = (SELECT min(id) FROM t)") }
        try queue.close()
        let verify = try p2pdb("verify", "--data", a)
        #expect(verify.status == 4, "\(verify.stderr)")
        #expect(verify.stderr.contains("p2pdb rebuild --data \(a) --from"), "\(verify.stderr)")
        #expect(verify.stderr.contains("p2pdb rebuild --data \(a) --bundle"), "\(verify.stderr)")
        #expect(verify.stderr.contains("p2pdb restore --data"), "\(verify.stderr)")

        let rebuilt = try p2pdb("rebuild", "--data", a, "--bundle", temp.path("peer.bundle"), "--json")
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        let report = try JSON.parse(rebuilt.stdout)
        #expect(report["node"] == .string(nodeID) && report["salvaged"] == .integer(13) && report["unreadable"] == .integer(0), "\(report)")
        #expect(report["awaiting_own_history"] == .bool(false) && report["next_seq"] == .integer(14), "\(report)")
        let movedTo = try #require(report["moved_to"]?.stringValue)
        #expect(FileManager.default.fileExists(atPath: movedTo) && movedTo.contains("/replica.damaged-"))
        #expect(FileManager.default.contents(atPath: a + "/node.key") == key)
        #expect(try p2pdb("verify", "--data", a).status == 0)
        #expect(try Self.rows(a) == rows, "seed \(seed)")
        #expect(try Self.status(a)["state_hash"] == hash)

        // The next write signs a new sequence number.
        #expect(try p2pdb("sql", "--data", a, "INSERT INTO t (id) VALUES (-1)").status == 0)
        let now = try Self.ownEntries(a, node: nodeID)
        let fresh = now.filter { entry in !old.contains { $0.id == entry.id } }
        #expect(fresh.map(\.seq) == [14], "\(fresh)")
        #expect(Set(now.map(\.seq)).count == now.count, "no sequence number signed twice")
    }

    /// A replica that cannot be read at all: rebuild keeps the key, refuses
    /// writes until a peer says how far the node wrote, then goes on after
    /// that. The peer's answer comes over the network (--from).
    @Test func anUnreadableReplicaIsRebuiltFromAPeerBeforeItWrites() throws {
        var random = Seeded(seed: UInt64.random(in: 0 ... .max))
        let temp = try TemporaryDirectory()
        let a = temp.path("a")
        try p2pdb("init", "--data", a)
        let nodeID = try DataDirectory(path: a).loadKey().nodeID.hex
        #expect(try p2pdb("sql", "--data", a, Self.schema).status == 0)
        for index in 0..<5 { #expect(try p2pdb(arguments: Self.insertArguments(&random, from: index * 100, data: a)).status == 0) }
        let rows = try Self.rows(a)
        #expect(try p2pdb("export", "--data", a, "--out", temp.path("all.bundle")).status == 0)
        let peer = try PeerNode(directory: temp.path("b"))
        #expect(try p2pdb("import", "--data", peer.directory, temp.path("all.bundle")).status == 0)

        let replica = a + "/replica.sqlite"
        let size = try FileManager.default.attributesOfItem(atPath: replica)[.size] as? Int ?? 4096
        #expect(FileManager.default.createFile(atPath: replica, contents: Data((0..<size).map { _ in UInt8.random(in: 0...255) })))
        let verify = try p2pdb("verify", "--data", a)
        #expect(verify.status == 4 && verify.stderr.contains("p2pdb rebuild --data"), "\(verify.stderr)")

        // While a node serves the directory, rebuild refuses and moves nothing.
        let serving = try ServeProcess(data: temp.path("c"))
        let busy = try p2pdb("rebuild", "--data", serving.directory)
        #expect(busy.status == 3 && busy.stderr.contains("stop it first"), "\(busy.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: serving.directory).allSatisfy { !$0.hasPrefix("replica.damaged") })
        serving.stop()

        // Nothing salvaged, nothing known: no write.
        let alone = try JSON.parse(try p2pdb("rebuild", "--data", a, "--json").stdout)
        #expect(alone["salvaged"] == .integer(0) && alone["awaiting_own_history"] == .bool(true), "\(alone)")
        let refused = try p2pdb("sql", "--data", a, "INSERT INTO t (id) VALUES (-1)")
        #expect(refused.status == 1, "\(refused.stderr)")

        // A peer that cannot be reached: a failure that names the next step.
        let closed = "127.0.0.1:\(try freePort())"
        let unreachable = try p2pdb("rebuild", "--data", a, "--from", closed, "--timeout", "2")
        #expect(unreachable.status == 1 && unreachable.stderr.contains("did not catch up from \(closed)"), "\(unreachable.stderr)")
        #expect(unreachable.stderr.contains("p2pdb serve --data \(a) --join \(closed)"), "\(unreachable.stderr)")

        let fromPeer = try p2pdb("rebuild", "--data", a, "--from", peer.peerAddress, "--timeout", "60", "--json")
        #expect(fromPeer.status == 0, "\(fromPeer.stderr)")
        let report = try JSON.parse(fromPeer.stdout)
        #expect(report["caught_up"] == .integer(6) && report["awaiting_own_history"] == .bool(false) && report["next_seq"] == .integer(7), "\(report)")
        #expect(try Self.rows(a) == rows)
        #expect(try p2pdb("sql", "--data", a, "INSERT INTO t (id) VALUES (-1)").status == 0)
        #expect(try Self.ownEntries(a, node: nodeID).map(\.seq).max() == 7)
    }

    /// A damaged page in the middle of the log: rebuild reads every other
    /// entry past it, and knows from the old file how far the node had
    /// written, so it refuses to write until the lost entries come back,
    /// even after a bundle that stops short of them.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3"), "needs the sqlite3 shell for dbstat"))
    func aDamagedLogPageIsReadAroundAndTheNodeWaitsForWhatItLost() throws {
        let temp = try TemporaryDirectory()
        let a = temp.path("a")
        try p2pdb("init", "--data", a)
        let nodeID = try DataDirectory(path: a).loadKey().nodeID.hex
        #expect(try p2pdb("sql", "--data", a, Self.schema).status == 0)
        // Entries of about 1.5 KB: a few to a page, so that the log spans pages.
        func insert(_ id: Int) throws {
            let blob = Hex.encode((0..<1500).map { _ in UInt8.random(in: 0...255) })
            #expect(try p2pdb("sql", "--data", a, "INSERT INTO t VALUES (\(id), X'\(blob)', \(Double(id) / 3), NULL)").status == 0)
        }
        for id in 1...6 { try insert(id) }
        #expect(try p2pdb("export", "--data", a, "--out", temp.path("early.bundle")).status == 0)
        for id in 7...20 { try insert(id) }
        #expect(try p2pdb("export", "--data", a, "--out", temp.path("all.bundle")).status == 0)
        let rows = try Self.rows(a)

        let replica = a + "/replica.sqlite"
        let shell = try ChildProcess.run(
            "/usr/bin/sqlite3",
            [replica, "PRAGMA wal_checkpoint(TRUNCATE);", "SELECT pageno FROM dbstat WHERE name = '_p2pdb_entries' AND pagetype = 'leaf' ORDER BY path;"])
        let leaves = shell.stdout.split(whereSeparator: \.isNewline).compactMap { Int($0) }
        try #require(leaves.count >= 4, "\(shell.stdout) \(shell.stderr)")
        // A leaf near the end holds entries that only this node has.
        let page = leaves[leaves.count - 2]
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: replica))
        try handle.seek(toOffset: UInt64((page - 1) * 4096))
        try handle.write(contentsOf: Data(repeating: 0xFF, count: 64))
        try handle.close()
        #expect(try p2pdb("verify", "--data", a).status == 4)

        let rebuilt = try p2pdb("rebuild", "--data", a, "--bundle", temp.path("early.bundle"), "--json")
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        let report = try JSON.parse(rebuilt.stdout)
        let salvaged = try #require(report["salvaged"]?.intValue)
        #expect(salvaged >= 7 && salvaged < 21 && (report["unreadable"]?.intValue ?? 0) >= 1, "\(report)")
        #expect(report["awaiting_own_history"] == .bool(true), "\(report)")
        let refused = try p2pdb("sql", "--data", a, "INSERT INTO t (id) VALUES (-1)")
        #expect(refused.status == 1 && refused.stderr.contains("up to sequence number 21"), "\(refused.stderr)")
        // Rebuilt again, the replica keeps what it had learned.
        #expect(try p2pdb("rebuild", "--data", a).status == 0)
        let still = try p2pdb("sql", "--data", a, "INSERT INTO t (id) VALUES (-1)")
        #expect(still.status == 1 && still.stderr.contains("up to sequence number 21"), "\(still.stderr)")

        // A peer that has them all: the lost entries return, writes go on after them.
        #expect(try p2pdb("import", "--data", a, temp.path("all.bundle")).status == 0)
        #expect(try Self.rows(a) == rows)
        #expect(try p2pdb("sql", "--data", a, "INSERT INTO t (id) VALUES (-1)").status == 0)
        let seqs = try Self.ownEntries(a, node: nodeID).map(\.seq)
        #expect(seqs.max() == 22 && Set(seqs).count == seqs.count)
        #expect(try p2pdb("verify", "--data", a).status == 0)
    }

    /// The whole story: a register is backed up while it serves and
    /// replicates, writes more, and its disk dies. Restored from the backup
    /// and joined to a peer, it learns from the peer how far it had written,
    /// takes back the entries it wrote after the backup, and goes on after
    /// them: no peer records an equivocation.
    @Test func aRestoredRegisterLearnsItsLaterEntriesFromAPeerAndGoesOnAfterThem() throws {
        var random = Seeded(seed: UInt64.random(in: 0 ... .max))
        let temp = try TemporaryDirectory()
        let a = try PeerNode(directory: temp.path("a"))
        let b = try PeerNode(directory: temp.path("b"), join: [a])
        let nodeID = try DataDirectory(path: a.directory).loadKey().nodeID.hex
        #expect(try p2pdb("sql", "--data", a.directory, Self.schema).status == 0)
        for index in 0..<4 { #expect(try p2pdb(arguments: Self.insertArguments(&random, from: index * 100, data: a.directory)).status == 0) }
        #expect(try p2pdb("backup", "--data", a.directory, "--out", temp.path("a.backup")).status == 0)
        for index in 4..<8 { #expect(try p2pdb(arguments: Self.insertArguments(&random, from: index * 100, data: a.directory)).status == 0) }
        #expect(converged([a, b]))
        let rows = try Self.rows(b.directory)
        let lastSeq = try #require(Self.ownEntries(b.directory, node: nodeID).map(\.seq).max())
        #expect(lastSeq == 9)
        a.kill9()

        let restoredDirectory = temp.path("a2")
        #expect(try p2pdb("restore", "--data", restoredDirectory, temp.path("a.backup")).status == 0)
        #expect(try Self.status(restoredDirectory)["entries"] == .integer(5))
        let restored = try PeerNode(directory: restoredDirectory, join: [b])
        #expect(converged([restored, b]))
        let deadline = Date().addingTimeInterval(30)
        while (try? restored.status())?["awaiting_own_history"] != .bool(false) && Date() < deadline { usleep(100_000) }
        #expect(try restored.status()["awaiting_own_history"] == .bool(false))
        #expect(try Self.rows(restoredDirectory) == rows)
        #expect(try restored.sql("INSERT INTO t (id) VALUES (-1)").status == 0)
        #expect(converged([restored, b]))
        #expect(try Self.ownEntries(b.directory, node: nodeID).map(\.seq).max() == lastSeq + 1)
        #expect(try b.status()["equivocations"] == .array([]))
    }
}
