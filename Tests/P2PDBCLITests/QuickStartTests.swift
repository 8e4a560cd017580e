import Foundation
import P2PDB
import P2PDBTestSupport
import Testing

/// The README's quick start, run as written: its commands, taken from the
/// README itself, against a node started as `scripts/node` starts one.
@Suite("README quick start")
struct QuickStartTests {
    @Test func theQuickStartRunsAsWritten() throws {
        let readme = try String(contentsOf: PackagingTests.repository.appendingPathComponent("README.md"), encoding: .utf8)
        let opening = "In another terminal:\n\n```sh\n"
        let start = try #require(readme.range(of: opening), "the README's quick start has moved")
        let end = try #require(readme.range(of: "```", range: start.upperBound..<readme.endIndex))
        let commands = String(readme[start.upperBound..<end.lowerBound])
        #expect(commands.contains("curl") && commands.contains(".build/release/p2pdb"))

        // scripts/node ends by running serve on ./data with the HTTP API on 127.0.0.1:7070.
        let node = try String(contentsOf: PackagingTests.repository.appendingPathComponent("scripts/node"), encoding: .utf8)
        #expect(node.contains(#"p2pdb serve --data "${P2PDB_DATA:-./data}""#))
        let temp = try TemporaryDirectory()
        let server = try ServeProcess(data: temp.path("data"))
        defer { server.stop() }

        // The same commands with this build's binary and the node's port.
        let script =
            "set -eu\ncd '\(temp.url.path)'\n"
            + commands.replacingOccurrences(of: ".build/release/p2pdb", with: p2pdbBinary.path)
            .replacingOccurrences(of: "http://127.0.0.1:7070", with: server.url)
        let run = try ChildProcess.run("/bin/bash", ["-c", script])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains(#"{"changes":1,"entry":""#), "\(run.stdout)")
        #expect(run.stdout.contains("apple | Apple | 0.5   | 100"), "\(run.stdout)")
    }
}
