import Foundation
import P2PDB
import P2PDBTestSupport
import Testing

/// `p2pdb sql` without SQL: dot-commands and output modes, driven through
/// standard input as a script would.
@Suite("The SQL shell's dot-commands")
struct ShellTests {
    @Test func dotCommandsShowTheSchemaTheNodeAndTheLog() throws {
        let temp = try TemporaryDirectory()
        let dir = temp.path("node")
        try p2pdb("init", "--data", dir)
        try "INSERT INTO items VALUES ('pear', 'Pear, ripe', 2);\n.mode line\nSELECT * FROM items WHERE sku = 'pear';\n"
            .write(toFile: temp.path("more.sql"), atomically: true, encoding: .utf8)
        let script = """
            CREATE TABLE items (sku TEXT PRIMARY KEY, name TEXT, price INTEGER);
            CREATE INDEX items_by_name ON items (name);
            CREATE TABLE "Ünïcode" (id INTEGER PRIMARY KEY);
            INSERT INTO items VALUES ('apple', 'Apple "Gala"', 1);
            .tables
            .schema items
            .indexes
            .mode csv
            SELECT sku, name FROM items ORDER BY sku;
            .read \(temp.path("more.sql"))
            .mode
            .mode json
            SELECT count(*) AS n FROM items;
            .mode table
            .timer on
            SELECT 1 AS one;
            .timer off
            .log 2
            .status
            .peers
            .quit
            INSERT INTO items VALUES ('never', 'after quit', 0);
            """
        let run = try p2pdb("sql", "--data", dir, input: script + "\n")
        #expect(run.status == 0, "\(run.stderr)")
        let out = run.stdout
        #expect(out.contains("items\nÜnïcode\n"), "\(out)")
        #expect(!out.contains("_p2pdb"), "internal tables stay hidden")
        // As P2PDB states the replicated schema.
        #expect(
            out.contains(#"CREATE TABLE "items" ("sku" TEXT, "name" TEXT, "price" INTEGER, PRIMARY KEY ("sku"));"# + "\n" + #"CREATE INDEX "items_by_name" ON "items" ("name");"#),
            "\(out)")
        #expect(out.contains("items_by_name\n"))
        #expect(out.contains("sku,name\r\napple,\"Apple \"\"Gala\"\"\""), "CSV quotes as RFC 4180: \(out)")
        #expect(out.contains("  sku = pear\n name = Pear, ripe\nprice = 2"), "line mode: \(out)")
        #expect(out.contains("line\n"), ".mode without an argument names the mode")
        #expect(out.contains(#"{"columns":["n"],"rows":[[2]]}"#), "\(out)")
        #expect(out.contains("Run Time: real "))
        #expect(out.contains("insert items (sku='pear') values"), ".log shows the row changes: \(out)")
        #expect(out.contains("node_id:") && out.contains("state_hash:"))
        #expect(out.contains("no peers"))
        let count = try p2pdb("sql", "--data", dir, "--json", "SELECT count(*) FROM items")
        #expect(try JSON.parse(count.stdout)["rows"] == .array([.array([.number("2")])]), "nothing after .quit ran")
    }

    @Test func aWrongDotCommandStopsAScriptWithItsReason() throws {
        let temp = try TemporaryDirectory()
        let dir = temp.path("node")
        try p2pdb("init", "--data", dir)
        for (line, reason) in [
            (".frobnicate", "unknown command .frobnicate; .help lists the commands"), (".mode html", ".mode: html is not one of table, json, csv, line"),
            (".read \(temp.path("missing.sql"))", "cannot read"), (".timer maybe", ".timer on|off"),
        ] {
            let run = try p2pdb("sql", "--data", dir, input: line + "\nCREATE TABLE t (id INTEGER PRIMARY KEY);\n")
            #expect(run.status == 1 && run.stderr.contains(reason), "\(line): \(run.stderr)")
        }
        #expect(try p2pdb("sql", "--data", dir, input: ".help\n").stdout.contains(".schema [TABLE]"))
        #expect(try p2pdb("status", "--data", dir, "--json").stdout.contains(#""entries":0"#), "a failed script changed nothing")
    }
}
