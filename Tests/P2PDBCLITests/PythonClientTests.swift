import Foundation
import P2PDB
import P2PDBTestSupport
import Testing

/// The Python example client (Examples/python) against a running node, as a
/// shop's back office would run it.
@Suite("Python example client", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"), "python3 is not installed"))
struct PythonClientTests {
    static let examples = packageRoot.appendingPathComponent("Examples/python").path

    static func python(_ arguments: [String], url: String, token: String) throws -> CommandOutput {
        try ChildProcess.run(
            "/usr/bin/env", ["-i", "PATH=/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE=1", "P2PDB_URL=\(url)", "P2PDB_TOKEN=\(token)",
                // A feed that never delivers what the test waits for fails instead of hanging.
                "/usr/bin/timeout", "60", "/usr/bin/python3"] + arguments)
    }

    @Test(arguments: 0..<2)
    func theBackOfficeReportsWhatTheRegistersSold(seed: UInt64) throws {
        var random = SeededGenerator(seed: 300 + seed)
        let temp = try TemporaryDirectory()
        let server = try ServeProcess(data: temp.path("node"))
        defer { server.stop() }
        let token = try p2pdb("token", "--data", server.directory).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        func sql(_ text: String, _ parameters: [String] = []) throws {
            let output = try p2pdb(arguments: ["sql", "--url", server.url, "--token", token, text] + parameters.flatMap { ["--param", $0] })
            try #require(output.status == 0, "\(text): \(output.stderr)")
        }
        try sql("CREATE TABLE items (sku TEXT PRIMARY KEY, name TEXT, price REAL, stock COUNTER INTEGER NOT NULL DEFAULT 0)")
        try sql("CREATE TABLE sales (id TEXT PRIMARY KEY DEFAULT (uuid()), sku TEXT, qty INTEGER, price REAL)")
        let skus = ["apple", "pear", "crème", "日本茶"]
        var units: [String: Int] = [:], takings: [String: Double] = [:]
        let count = Int.random(in: 3...12, using: &random)
        for _ in 0..<count {
            let sku = skus.randomElement(using: &random) ?? "apple"
            let qty = Int.random(in: 1...9, using: &random)
            let price = Double(Int.random(in: 10...999, using: &random)) / 4
            try sql("INSERT INTO sales(sku, qty, price) VALUES (?, ?, ?)", [JSON.string(sku).text, String(qty), String(price)])
            units[sku, default: 0] += qty
            takings[sku, default: 0] += Double(qty) * price
        }
        try sql("INSERT INTO items VALUES ('apple', 'Apple', 0.5, 3), ('pear', 'Pear', 0.7, 40)")

        let report = try Self.python([Self.examples + "/backoffice.py", "report"], url: server.url, token: token)
        #expect(report.status == 0, "\(report.stderr)")
        let lines = report.stdout.split(separator: "\n").map(String.init)
        for sku in units.keys {
            let line = lines.first { $0.hasPrefix(sku + " ") }
            #expect(line?.split(separator: " ").suffix(2).map(String.init) == [String(units[sku] ?? 0), String(format: "%.2f", takings[sku] ?? 0)], "\(report.stdout)")
        }
        #expect(lines.last?.hasSuffix(String(format: "%.2f", takings.values.reduce(0, +))) == true, "\(report.stdout)")

        let low = try Self.python([Self.examples + "/backoffice.py", "low-stock", "5"], url: server.url, token: token)
        #expect(low.stdout == "apple (Apple): 3 left\n", "\(low.stdout) \(low.stderr)")

        // The change feed of `sales` from the beginning: its creation, then one line per sale, with its row.
        let watch = try Self.python([Self.examples + "/backoffice.py", "watch", "--from-start", "--count", String(count + 1)], url: server.url, token: token)
        #expect(watch.status == 0, "\(watch.stderr)")
        #expect(watch.stdout.split(separator: "\n").filter { $0.hasPrefix("sale ") }.count == count, "\(watch.stdout)")

        let refused = try Self.python([Self.examples + "/backoffice.py", "report"], url: server.url, token: "wrong-token-0123456789")
        #expect(refused.status == 1 && refused.stderr.contains("unauthorized"), "\(refused.stderr)")
    }

    /// Values of every storage class go through the client unchanged, blobs as bytes.
    @Test func valuesRoundTripThroughTheClient() throws {
        let temp = try TemporaryDirectory()
        let server = try ServeProcess(data: temp.path("node"))
        defer { server.stop() }
        let token = try p2pdb("token", "--data", server.directory).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let script = """
            import sys
            sys.path.insert(0, \(JSON.string(Self.examples).text))
            from p2pdb_client import Client, P2PDBError
            node = Client(sys.argv[1], sys.argv[2])
            node.sql("CREATE TABLE v (id INTEGER PRIMARY KEY, x ANY) STRICT")
            values = [None, 0, -9223372036854775808, 9223372036854775807, 1.0, -0.5, 1e300, "", "é\\u0000ü", "e\\u0301", b"", b"\\x00\\xff"]
            node.transaction([("INSERT INTO v VALUES (?, ?)", [i, value]) for i, value in enumerate(values)])
            back = [row[1] for row in node.query("SELECT id, x FROM v ORDER BY id")]
            types = [row[0] for row in node.query("SELECT typeof(x) FROM v ORDER BY id")]
            assert back == values, (back, values)
            assert types == ["null", "integer", "integer", "integer", "real", "real", "real", "text", "text", "text", "blob", "blob"], types
            assert isinstance(back[4], float) and isinstance(back[1], int)
            try:
                node.sql("INSERT INTO v VALUES (0, 1)")
            except P2PDBError as error:
                assert error.status == 409 and error.code == "constraint", error
            else:
                raise AssertionError("a duplicate key was accepted")
            print("ok")
            """
        let output = try ChildProcess.run("/usr/bin/timeout", ["60", "/usr/bin/python3", "-c", script, server.url, token])
        #expect(output.stdout == "ok\n", "\(output.stderr)")
    }
}
