import Foundation
import P2PDB
import P2PDBTestSupport
import Testing

/// The dashboard (`GET /`) in a real browser: headless Chromium, driven over
/// the DevTools protocol by Browser/drive_dashboard.py, against a running
/// node. The screenshot is kept in .build/test-artifacts/dashboard.png.
@Suite(
    "Dashboard in a browser",
    .enabled(
        if: FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"),
        "needs Debian's chromium and python3 (scripts/setup.sh installs them)"))
struct DashboardTests {
    static let root = packageRoot

    @Test func thePageShowsTheNodeAndFollowsItsWrites() throws {
        let temp = try TemporaryDirectory()
        let server = try ServeProcess(data: temp.path("node"))
        defer { server.stop() }
        let token = try p2pdb("token", "--data", server.directory).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        for sql in [
            "CREATE TABLE items (sku TEXT PRIMARY KEY, name TEXT, price REAL, stock COUNTER INTEGER NOT NULL DEFAULT 0)",
            "INSERT INTO items VALUES ('apple', 'Apple', 0.5, 12), ('crème', 'Crème', 2.0, 3)",
        ] {
            #expect(try p2pdb("sql", "--url", server.url, "--token", token, sql).status == 0)
        }
        let nodeID = try #require(try JSON.parse(try p2pdb("status", "--data", server.directory, "--json").stdout)["node_id"]?.stringValue)
        let artifacts = Self.root.appendingPathComponent(".build/test-artifacts")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        let screenshot = artifacts.appendingPathComponent("dashboard.png").path
        try? FileManager.default.removeItem(atPath: screenshot)

        let driver = Self.root.appendingPathComponent("Tests/P2PDBCLITests/Browser/drive_dashboard.py").path
        let run = try ChildProcess.run("/usr/bin/timeout", ["120", "/usr/bin/python3", driver, server.url, token, screenshot])
        let report = try #require(try? JSON.parse(run.stdout), "the driver failed: \(run.stderr)")

        // Without a token the page asks for one, and shows nothing of the node.
        #expect(report["login_shown"] == .bool(true), "\(report.text)")
        #expect(report["without_token"]?["node"]?.stringValue?.contains(nodeID) != true)
        // Signed in: the node, its tables with their row counts, live updates.
        #expect(report["loaded"] == .bool(true), "\(report["first"]?.text ?? "")")
        let first = report["first"]
        #expect(first?["node"]?.stringValue?.contains(nodeID) == true)
        #expect(first?["node"]?.stringValue?.contains(P2PDBVersion.current) == true)
        #expect(first?["tables"]?.stringValue?.contains("items\t2") == true, "\(first?["tables"]?.text ?? "")")
        #expect(first?["entries"]?.stringValue?.contains("crème") == true)
        #expect(first?["fragment"] == .string(""), "the token stays out of the address bar")
        // A write through the API appears without a reload.
        #expect(report["updated"] == .bool(true), "\(report["after_write"]?.text ?? "")")
        #expect(report["after_write"]?["tables"]?.stringValue?.contains("items\t3") == true)
        // The console runs reads, and refuses writes even with an admin token.
        #expect(report["queried"] == .bool(true), "\(report["query"]?.text ?? "")")
        #expect(report["write_refused"] == .bool(true), "\(report["write_attempt"]?.text ?? "")")
        #expect(report["rows_left"] == .number("3"))
        let png = try Data(contentsOf: URL(fileURLWithPath: screenshot))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 10_000)
    }
}
