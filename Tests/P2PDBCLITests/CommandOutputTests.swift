import Foundation
import P2PDB
import P2PDBTestSupport
import Testing

/// Unix conventions on every command: `--json` where a command prints, `-`
/// for standard input or output where it takes a file, documented exit
/// statuses.
@Suite("JSON output, - for standard streams, exit statuses")
struct CommandOutputTests {
    @Test func commandsPrintJSONAndTakeStandardStreams() throws {
        let temp = try TemporaryDirectory()
        let (a, b, c) = (temp.path("a"), temp.path("b"), temp.path("c"))
        let initialized = try JSON.parse(try p2pdb("init", "--data", a, "--json").stdout)
        let nodeID = try #require(initialized["node_id"]?.stringValue)
        #expect(nodeID.count == 64 && initialized["data"] == .string(a))
        #expect(try p2pdb("sql", "--data", a, "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)").status == 0)
        // A blob with every byte value, so that a pipe that is not binary-safe shows.
        let every = "X'" + (0...255).map { String(format: "%02X", $0) }.joined() + "'"
        #expect(try p2pdb("sql", "--data", a, "INSERT INTO t VALUES (1, \(every))").status == 0)

        let verified = try JSON.parse(try p2pdb("verify", "--data", a, "--json").stdout)
        #expect(verified["ok"] == .bool(true) && verified["entries"] == .number("2") && verified["problems"] == .array([]))
        let status = try JSON.parse(try p2pdb("status", "--data", a, "--json").stdout)
        #expect(verified["state_hash"] == status["state_hash"])

        let exported = try JSON.parse(try p2pdb("export", "--data", a, "--out", temp.path("bundle"), "--json").stdout)
        #expect(exported["entries"] == .number("2") && exported["file"] == .string(temp.path("bundle")))
        try p2pdb("init", "--data", b)
        let imported = try JSON.parse(try p2pdb("import", "--data", b, temp.path("bundle"), "--json").stdout)
        #expect(imported["applied"] == .number("2") && imported["duplicates"] == .number("0"))

        // A bundle through a pipe: export to standard output, import from standard input.
        try p2pdb("init", "--data", c)
        let piped = try ChildProcess.run(
            "/bin/sh", ["-c", #""$0" export --data "$1" --out - | "$0" import --data "$2" - --json"#, p2pdbBinary.path, a, c])
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(try JSON.parse(piped.stdout)["applied"] == .number("2"), "\(piped.stdout)")
        #expect(piped.stderr.contains("exported 2 entries to standard output"), "\(piped.stderr)")
        #expect(try JSON.parse(try p2pdb("status", "--data", c, "--json").stdout)["state_hash"] == status["state_hash"])
        #expect(!FileManager.default.fileExists(atPath: temp.path("-")), "- is standard output, not a file")
        let both = try p2pdb("export", "--data", a, "--out", "-", "--json")
        #expect(both.status == 1 && both.stderr.contains("both write to standard output"), "\(both.stderr)")

        let token = try JSON.parse(try p2pdb("token", "--data", a, "--json").stdout)["token"]?.stringValue
        #expect(token == (try p2pdb("token", "--data", a).stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        let resumed = try JSON.parse(try p2pdb("resume-writes", "--data", a, "--json").stdout)
        #expect(resumed["resumed"] == .bool(false) && resumed["next_seq"] == .number("3"))
    }

    @Test func networkFilesPrintJSONAndACredentialCanGoToStandardOutput() throws {
        let temp = try TemporaryDirectory()
        let key = temp.path("shop.key")
        let created = try JSON.parse(try p2pdb("network", "create", "--name", "shop", "--out", key, "--json").stdout)
        let networkID = try #require(created["descriptor"]?["network"]?.stringValue)
        #expect(created["key_file"] == .string(key) && created["descriptor_file"] == .null)
        let nodeID = String(repeating: "ab", count: 32)
        let admitted = try p2pdb("network", "admit", "--key", key, "--node", nodeID, "--role", "reader", "--out", "-")
        #expect(admitted.status == 0, "\(admitted.stderr)")
        try admitted.stdout.write(toFile: temp.path("reader.credential"), atomically: true, encoding: .utf8)
        let shown = try JSON.parse(try p2pdb("network", "show", temp.path("reader.credential"), "--json").stdout)
        #expect(shown["kind"] == .string("credential") && shown["node"] == .string(nodeID) && shown["role"] == .string("reader"))
        #expect(shown["network"] == .string(networkID) && shown["signature_valid"] == .bool(true) && shown["expires"] == .null)
    }

    @Test func exitStatusesAreTheDocumentedOnes() throws {
        let temp = try TemporaryDirectory()
        let dir = temp.path("node")
        #expect(try p2pdb("status", "--data", dir).status == 3, "not initialised")
        try p2pdb("init", "--data", dir)
        #expect(try p2pdb("sql", "--data", dir, "SELEC 1").status == 1, "bad SQL")
        #expect(try p2pdb("export", "--data", dir).status == 64, "a missing option")
        #expect(try p2pdb("no-such-command").status == 64)
        try Data("not a bundle".utf8).write(to: URL(fileURLWithPath: temp.path("junk")))
        #expect(try p2pdb("import", "--data", dir, temp.path("junk")).status == 4, "a corrupt bundle")
        #expect(try p2pdb("check", "--data", dir).status == 0)
    }
}
