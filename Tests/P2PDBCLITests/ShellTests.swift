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

/// The shell on a terminal: a pseudo-terminal made by util-linux's
/// `script`, fed keystrokes one burst at a time as a person types them.
@Suite("The SQL shell on a terminal", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script")))
struct TerminalShellTests {
    /// Runs the shell on a terminal, typing `keys` a burst at a time; what
    /// the terminal showed.
    static func session(_ data: String, history: String, keys: [String], in temp: TemporaryDirectory) throws -> String {
        let screen = temp.path("screen-\(UUID().uuidString)")
        try Data().write(to: URL(fileURLWithPath: screen))
        let command = "'\(p2pdbBinary.path)' sql --data '\(data)'"
        let shell = try ChildProcess(
            "/usr/bin/env", ["P2PDB_HISTORY=\(history)", "TERM=xterm", "/usr/bin/script", "-qfec", command, "/dev/null"], stdin: .pipe,
            stdout: .file(screen))
        // A key before the shell is up would reach a process with no
        // Ctrl-C handler yet: wait for its first prompt.
        let started = ContinuousClock.now
        while !((try? String(contentsOfFile: screen, encoding: .utf8))?.contains("p2pdb> ") ?? false), ContinuousClock.now - started < .seconds(60) {
            usleep(50_000)
        }
        for burst in keys {
            // Each burst after the shell has answered the previous one.
            usleep(700_000)
            try shell.standardInput?.write(contentsOf: Data(burst.utf8))
        }
        usleep(700_000)
        try shell.standardInput?.close()
        shell.waitUntilExit()
        return (try? String(contentsOfFile: screen, encoding: .utf8)) ?? ""
    }

    /// How many lines of a terminal's output are `text` (a terminal ends
    /// lines with "\r\n", which Swift reads as one character).
    static func lines(_ screen: String, equalTo text: String) -> Int {
        screen.split(whereSeparator: \.isNewline).filter { $0.trimmingCharacters(in: .whitespaces) == text }.count
    }

    @Test func linesAreEditedAndTheHistoryLastsBetweenSessions() throws {
        let temp = try TemporaryDirectory()
        let dir = temp.path("node"), history = temp.path("history")
        try p2pdb("init", "--data", dir)
        let up = "\u{1B}[A", clearLine = "\u{15}", endOfInput = "\u{04}"
        let first = try Self.session(
            dir, history: history,
            keys: ["CREATE TABLE t (id INTEGER PRIMARY KEY);\r", "SELECT 4" + clearLine, "SELECT 41 + 1 AS answer;\r", up + "\r", endOfInput],
            in: temp)
        // Ctrl-U dropped "SELECT 4"; the Up arrow ran the last statement again.
        #expect(!first.contains("syntax error") && !first.contains("unrecognized token"), "\(first)")
        #expect(Self.lines(first, equalTo: "42") == 2, "\(first)")
        let kept = try String(contentsOfFile: history, encoding: .utf8)
        #expect(kept.contains("SELECT") && kept.contains("answer"), "\(kept)")
        // A new session starts with the old one's history.
        let second = try Self.session(dir, history: history, keys: [up + "\r", endOfInput], in: temp)
        #expect(Self.lines(second, equalTo: "42") == 1, "\(second)")
    }

    /// Ctrl-C drops the statement being typed, or stops the one running,
    /// and the shell goes on; Ctrl-D still ends it.
    @Test func ctrlCCancelsTheLineOrTheStatementAndTheShellGoesOn() throws {
        let temp = try TemporaryDirectory()
        let dir = temp.path("node")
        try p2pdb("init", "--data", dir)
        let interrupt = "\u{03}", endOfInput = "\u{04}"
        let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c;\r"
        let screen = try Self.session(
            dir, history: temp.path("history"),
            keys: [
                "SELECT 1 +\r", "2 +" + interrupt, "SELECT 40 + 2 AS answer;\r", endless, interrupt, "SELECT 'still here', 'é' || 'ü';\r",
                endOfInput,
            ],
            in: temp)
        // Had Ctrl-C not dropped the first statement, it would have run as "SELECT 1 + 2 + SELECT 40 ...".
        #expect(!screen.contains("syntax error") && !screen.contains("near \"SELECT\""), "\(screen)")
        #expect(Self.lines(screen, equalTo: "42") == 1, "\(screen)")
        #expect(screen.contains("interrupted"), "\(screen)")
        // Non-ASCII typed on the terminal arrives whole.
        #expect(screen.split(whereSeparator: \.isNewline).contains { $0.hasPrefix("still here ") && $0.hasSuffix("| éü") }, "\(screen)")

        // Through a running node, Ctrl-C gives up on the request.
        let server = try ServeProcess(data: dir)
        // The node itself stops the abandoned query only at its statement timeout.
        defer { server.stop(SIGKILL) }
        let remote = try Self.session(dir, history: temp.path("history"), keys: [endless, interrupt, "SELECT 6 * 7;\r", endOfInput], in: temp)
        #expect(remote.contains("interrupted: the request was cancelled"), "\(remote)")
        #expect(Self.lines(remote, equalTo: "42") == 1, "\(remote)")
    }
}
