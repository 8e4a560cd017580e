import Foundation
import P2PDBTestSupport
import Testing

/// What an installation ships beside the binary: shell completions, and a
/// service unit that systemd accepts.
@Suite("Packaging")
struct PackagingTests {
    static let analyzer = "/usr/bin/systemd-analyze"
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test(arguments: ["bash", "zsh", "fish"])
    func completionsNameEveryCommand(_ shell: String) throws {
        let script = try p2pdb("--generate-completion-script", shell)
        #expect(script.status == 0, "\(script.stderr)")
        for command in ["serve", "sql", "status", "export", "import", "network", "verify"] {
            #expect(script.stdout.contains(command), "\(shell) completion lacks \(command)")
        }
    }

    /// `systemd-analyze verify` checks the unit's syntax, its options and
    /// that its commands exist (here: the binary under test in place of the
    /// installed one).
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: PackagingTests.analyzer), "systemd-analyze is not installed"))
    func theServiceUnitIsOneSystemdAccepts() throws {
        let temp = try TemporaryDirectory()
        let unit = try String(contentsOf: Self.repository.appendingPathComponent("packaging/p2pdb@.service"), encoding: .utf8)
        #expect(unit.contains("NoNewPrivileges=yes") && unit.contains("ProtectSystem=strict") && unit.contains("User=p2pdb"))
        let path = temp.path("p2pdb@.service")
        try unit.replacingOccurrences(of: "/usr/local/bin/p2pdb", with: p2pdbBinary.path).write(toFile: path, atomically: true, encoding: .utf8)
        let verified = try ChildProcess.run(Self.analyzer, ["verify", path])
        // Without an installed manual page, the Documentation= line is the one complaint.
        let complaints = (verified.stdout + verified.stderr).split(separator: "\n").filter { !$0.contains("man p2pdb(1)") }
        #expect(complaints.isEmpty, "\(complaints)")
    }
}
