import Foundation
import GRDB
import P2PDB
import Testing

@Suite("p2pdb command line")
struct CLITests {
    @Test func initCreatesAPrivateKeyAndPrintsTheNodeID() throws {
        let temp = try TemporaryDirectory()
        let dir = temp.path("node")
        let output = try p2pdb("init", "--data", dir)
        #expect(output.status == 0)
        let nodeID = output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(NodeID(hex: nodeID) != nil)
        for secret in ["node.key", "api.token"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/" + secret)
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(secret)")
        }
        #expect(try DataDirectory(path: dir).loadKey().nodeID.hex == nodeID)
        let again = try p2pdb("init", "--data", dir)
        #expect(again.status != 0)
        #expect(again.stderr.contains("already initialised"))
    }

    /// The data directory is its owner's: an existing directory is
    /// tightened, a key others can read or a missing key beside a replica
    /// stops the node with what to do, and planted symlinks redirect nothing.
    @Test func theDataDirectoryBelongsToItsOwner() throws {
        let temp = try TemporaryDirectory()
        let dir = temp.path("node")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        #expect(try p2pdb("init", "--data", dir).status == 0)
        #expect((try FileManager.default.attributesOfItem(atPath: dir)[.posixPermissions] as? Int) == 0o700)
        #expect(try p2pdb("sql", "--data", dir, "CREATE TABLE t (id INTEGER PRIMARY KEY)").status == 0)
        chmod(dir + "/replica.sqlite", 0o644)
        chmod(dir, 0o755)
        #expect(try p2pdb("sql", "--data", dir, "SELECT 1").status == 0)
        #expect((try FileManager.default.attributesOfItem(atPath: dir + "/replica.sqlite")[.posixPermissions] as? Int) == 0o600)
        #expect((try FileManager.default.attributesOfItem(atPath: dir)[.posixPermissions] as? Int) == 0o700)

        chmod(dir + "/node.key", 0o644)
        let readable = try p2pdb("sql", "--data", dir, "SELECT 1")
        #expect(readable.status != 0 && readable.stderr.contains("chmod 600"), "\(readable.stderr)")
        chmod(dir + "/node.key", 0o600)

        let target = temp.path("target")
        _ = FileManager.default.createFile(atPath: target, contents: Data("untouched".utf8))
        try FileManager.default.removeItem(atPath: dir + "/lock")
        try FileManager.default.createSymbolicLink(atPath: dir + "/lock", withDestinationPath: target)
        #expect(try p2pdb("sql", "--data", dir, "SELECT 1").status != 0)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "untouched")
        try FileManager.default.removeItem(atPath: dir + "/lock")

        try FileManager.default.removeItem(atPath: dir + "/node.key")
        for command in [["init", "--data", dir], ["serve", "--data", dir, "--http", "127.0.0.1:0"]] {
            let output = try p2pdb(arguments: command)
            #expect(output.status != 0 && output.stderr.contains("restore node.key"), "\(command): \(output.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/node.key"))
    }

    @Test(arguments: [
        ["sql", "SELECT 1"], ["status", "--json"], ["log"], ["verify"], ["export", "--out", "/dev/null"], ["import", "/dev/null"],
        ["token"], ["backup", "--out", "/dev/null"], ["rebuild"],
    ])
    func uninitialisedDirectoryIsNamed(_ command: [String]) throws {
        let temp = try TemporaryDirectory()
        let output = try p2pdb(arguments: [command[0], "--data", temp.path("nothing")] + command.dropFirst())
        #expect(output.status != 0)
        #expect(output.stderr.contains("is not an initialised P2PDB data directory"), "\(output.stderr)")
        #expect(output.stderr.split(separator: "\n").count == 1)
    }

    @Test(arguments: ["init", "sql", "status", "log", "verify", "export", "import", "serve", "token", "bench", "simulate", "fuzz", "surface", "hostile",
        "backup", "restore", "rebuild",
    ])
    func everyCommandHasHelp(_ command: String) throws {
        let output = try p2pdb(command, "--help")
        #expect(output.status == 0)
        #expect(output.stdout.contains("USAGE"))
    }

    @Test func sqlPrintsJSONForQueriesAndWrites() throws {
        let temp = try TemporaryDirectory()
        let dir = temp.path("node")
        try p2pdb("init", "--data", dir)
        try p2pdb("sql", "--data", dir, "CREATE TABLE t (id INTEGER PRIMARY KEY, v, n REAL)")
        let write = try p2pdb("sql", "--data", dir, "--json", "INSERT INTO t VALUES (?, ?, ?), (?, ?, ?)",
                              "--param", "1", "--param", "hello", "--param", "2.5",
                              "--param", "2", "--param", "\"42\"", "--param", "null")
        #expect(write.status == 0)
        let json = try JSON.parse(write.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(json["changes"] == .number("2"))
        guard case .string(let entry)? = json["entry"] else { Issue.record("no entry id: \(write.stdout)"); return }
        #expect(EntryID(hex: entry) != nil)
        let query = try p2pdb("sql", "--data", dir, "--json", "SELECT id, v, typeof(v), n FROM t ORDER BY id")
        #expect(query.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                == #"{"columns":["id","v","typeof(v)","n"],"rows":[[1,"hello","text",2.5],[2,"42","text",null]]}"#)
        let table = try p2pdb("sql", "--data", dir, "SELECT id FROM t")
        #expect(table.stdout.contains("(2 rows)"))
    }

    @Test func badSQLGivesOneLineAndNonZeroExit() throws {
        let temp = try TemporaryDirectory()
        let dir = temp.path("node")
        try p2pdb("init", "--data", dir)
        for sql in ["SELEC 1", "CREATE TABLE x (a)", "DROP TABLE x", "ATTACH 'x' AS y"] {
            let output = try p2pdb("sql", "--data", dir, sql)
            #expect(output.status != 0)
            #expect(output.stderr.hasPrefix("p2pdb: "))
            #expect(output.stderr.split(separator: "\n").count == 1)
        }
        let status = try p2pdb("status", "--data", dir, "--json")
        #expect(try JSON.parse(status.stdout.trimmingCharacters(in: .whitespacesAndNewlines))["entries"] == .number("0"))
    }

    @Test func statusAndLogDescribeTheLog() throws {
        let temp = try TemporaryDirectory()
        let dir = temp.path("node")
        let nodeID = try p2pdb("init", "--data", dir).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try p2pdb("sql", "--data", dir, "CREATE TABLE t (id INTEGER PRIMARY KEY)")
        try p2pdb("sql", "--data", dir, "INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)")
        let status = try JSON.parse(try p2pdb("status", "--data", dir, "--json").stdout)
        #expect(status["node_id"] == .string(nodeID))
        #expect(status["entries"] == .number("2"))
        #expect(status["lamport"] == .number("2"))
        #expect(status["version_vector"] == .object([(nodeID, .number("2"))]))
        #expect(status["equivocations"] == .array([]))
        guard case .array(let heads)? = status["heads"], heads.count == 1, case .string(let stateHash)? = status["state_hash"] else {
            Issue.record("status lacks heads or state_hash"); return
        }
        #expect(stateHash.count == 64)
        let log = try JSON.parse(try p2pdb("log", "--data", dir, "--json").stdout)
        guard case .array(let entries) = log, entries.count == 2 else { Issue.record("log: \(log)"); return }
        #expect(entries[0]["seq"] == .number("2"))
        #expect(entries[0]["changes"] == .number("2"))
        #expect(entries[0]["id"] == heads[0])
        #expect(entries[0]["parents"] == .array([entries[1]["id"]!]))
    }

    @Test func twoRegistersConvergeThroughBundles() throws {
        let temp = try TemporaryDirectory()
        let a = temp.path("register-a")
        let b = temp.path("register-b")
        try p2pdb("init", "--data", a)
        try p2pdb("init", "--data", b)
        try p2pdb("sql", "--data", a, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, stock COUNTER INTEGER NOT NULL DEFAULT 0)")
        try p2pdb("sql", "--data", a, "INSERT INTO items VALUES ('apple', 'Apple', 10)")
        #expect(try p2pdb("export", "--data", a, "--out", temp.path("a.bundle")).status == 0)
        #expect(try p2pdb("import", "--data", b, temp.path("a.bundle")).stdout.contains("imported 2 entries"))
        // Offline: both sell an apple; A renames it, B deletes nothing.
        try p2pdb("sql", "--data", a, "UPDATE items SET stock = stock - 1, name = 'Red apple' WHERE id = 'apple'")
        try p2pdb("sql", "--data", b, "UPDATE items SET stock = stock - 1 WHERE id = 'apple'")
        let vectorOfB = try JSON.parse(try p2pdb("status", "--data", b, "--json").stdout)["version_vector"]!.text
        try p2pdb("export", "--data", a, "--out", temp.path("a2.bundle"), "--since", vectorOfB)
        try p2pdb("export", "--data", b, "--out", temp.path("b.bundle"))
        #expect(try p2pdb("import", "--data", b, temp.path("a2.bundle")).stdout.contains("imported 1 entries"))
        #expect(try p2pdb("import", "--data", a, temp.path("b.bundle")).status == 0)
        let again = try p2pdb("import", "--data", a, temp.path("b.bundle"))
        #expect(again.stdout.contains("imported 0 entries"))
        let rowsA = try p2pdb("sql", "--data", a, "--json", "SELECT * FROM items").stdout
        let rowsB = try p2pdb("sql", "--data", b, "--json", "SELECT * FROM items").stdout
        #expect(rowsA == rowsB)
        #expect(rowsA.contains(#"["apple","Red apple",8]"#))
        let hashA = try JSON.parse(try p2pdb("status", "--data", a, "--json").stdout)["state_hash"]
        let hashB = try JSON.parse(try p2pdb("status", "--data", b, "--json").stdout)["state_hash"]
        #expect(hashA == hashB)
        #expect(try p2pdb("verify", "--data", a).status == 0)
        // A damaged bundle is refused and changes nothing.
        let bundle = try Data(contentsOf: URL(fileURLWithPath: temp.path("b.bundle")))
        try bundle.prefix(bundle.count / 2).write(to: URL(fileURLWithPath: temp.path("cut.bundle")))
        let cut = try p2pdb("import", "--data", a, temp.path("cut.bundle"))
        #expect(cut.status == 4)
        #expect(cut.stderr.contains("truncated or corrupted"))
        #expect(try JSON.parse(try p2pdb("status", "--data", a, "--json").stdout)["state_hash"] == hashA)
    }

    @Test func verifyNamesTheRowAlteredBehindItsBack() throws {
        let temp = try TemporaryDirectory()
        let dir = temp.path("node")
        try p2pdb("init", "--data", dir)
        try p2pdb("sql", "--data", dir, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (7, 'seven')")
        #expect(try p2pdb("verify", "--data", dir).stdout.hasPrefix("ok:"))
        let queue = try DatabaseQueue(path: dir + "/replica.sqlite")
        try queue.write { try $0.execute(sql: "UPDATE t SET v = 'six' WHERE id = 7") }
        try queue.close()
        let output = try p2pdb("verify", "--data", dir)
        #expect(output.status == 4)
        #expect(output.stderr.contains("table t, row 7: column v is 'six' in the file, the log gives 'seven'"))
    }

    @Test func shellReadsStatementsFromStandardInput() throws {
        let temp = try TemporaryDirectory()
        let dir = temp.path("node")
        try p2pdb("init", "--data", dir)
        let output = try p2pdb("sql", "--data", dir, input: """
            CREATE TABLE t (id INTEGER PRIMARY KEY,
                            v TEXT);
            INSERT INTO t VALUES (1, 'a;b');
            SELECT v FROM t;
            """)
        #expect(output.status == 0)
        #expect(output.stdout.contains("a;b"))
    }

    @Test func shellTransactionsAreOneEntryOrNothing() throws {
        let temp = try TemporaryDirectory()
        let dir = temp.path("node")
        try p2pdb("init", "--data", dir)
        try p2pdb("sql", "--data", dir, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        let committed = try p2pdb("sql", "--data", dir, input: """
            BEGIN;
            INSERT INTO t VALUES (1, 'a');
            INSERT INTO t VALUES (2, 'b');
            SELECT count(*) AS n FROM t;
            COMMIT;
            BEGIN TRANSACTION;
            INSERT INTO t VALUES (3, 'c');
            ROLLBACK;
            """)
        #expect(committed.status == 0, "\(committed.stderr)")
        // The SELECT ran inside the transaction, after both inserts.
        #expect(committed.stdout.contains("2"))
        let rows = try p2pdb("sql", "--data", dir, "--json", "SELECT id FROM t ORDER BY id")
        #expect(rows.stdout.contains("[[1],[2]]"))
        // One entry for the table, one for the transaction.
        let log = try p2pdb("log", "--data", dir, "--json")
        #expect(log.stdout.components(separatedBy: "\"seq\"").count - 1 == 2, "\(log.stdout)")
        let unfinished = try p2pdb("sql", "--data", dir, input: "BEGIN;\nINSERT INTO t VALUES (4, 'd');\n")
        #expect(unfinished.status == 1)
        #expect(unfinished.stderr.contains("not committed"))
        #expect(try p2pdb("sql", "--data", dir, "--json", "SELECT count(*) FROM t").stdout.contains("[[2]]"))
    }

    @Test func aReplicaMadeAnewForAnExistingKeyWaitsForABundle() throws {
        let temp = try TemporaryDirectory()
        let dir = temp.path("node")
        try p2pdb("init", "--data", dir)
        try p2pdb("sql", "--data", dir, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        try p2pdb("sql", "--data", dir, "INSERT INTO t VALUES (1, 'a')")
        try p2pdb("export", "--data", dir, "--out", temp.path("backup.bundle"))
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: dir + "/replica.sqlite" + suffix) }

        let refused = try p2pdb("sql", "--data", dir, "INSERT INTO t VALUES (2, 'b')")
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("created anew for an existing node key"))
        #expect(try p2pdb("status", "--data", dir, "--json").stdout.contains("\"awaiting_own_history\":true"))

        #expect(try p2pdb("import", "--data", dir, temp.path("backup.bundle")).status == 0)
        let accepted = try p2pdb("sql", "--data", dir, "INSERT INTO t VALUES (2, 'b')")
        #expect(accepted.status == 0, "\(accepted.stderr)")
        let log = try p2pdb("log", "--data", dir, "--json", "--limit", "1")
        #expect(log.stdout.contains("\"seq\":3"), "\(log.stdout)")
        #expect(try p2pdb("verify", "--data", dir).status == 0)
    }

    @Test func secondProcessOnTheSameDirectoryIsRefused() throws {
        let temp = try TemporaryDirectory()
        let dir = temp.path("node")
        try p2pdb("init", "--data", dir)
        let node = try Node.open(DataDirectory(path: dir))
        let output = try p2pdb("sql", "--data", dir, "SELECT 1")
        #expect(output.status == 3)
        #expect(output.stderr.contains("in use by another p2pdb process"))
        _ = node
    }

    /// The command a run prints is the one given, in the form a failure
    /// prints it: every setting that differs from the run's base.
    @Test func simulateNamesTheCommandThatReplaysASeed() throws {
        let output = try p2pdb("simulate", "--corrupt-rate", "0.1", "--seed", "3", "--nodes", "3", "--quick", "--faults", "1", "--transactions", "10")
        #expect(output.status == 0, "\(output.stdout)\(output.stderr)")
        #expect(output.stdout.contains("replay with: p2pdb simulate --quick --seed 3 --nodes 3 --transactions 10 --faults 1 --corrupt-rate 0.1"))
    }
}
