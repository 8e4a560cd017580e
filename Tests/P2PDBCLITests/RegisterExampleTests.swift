import Foundation
import P2PDB
import P2PDBTestSupport
import Testing

/// Examples/Register: two registers built on the library alone
/// (`node.startSync`, records, a live query) sell and end with the same
/// totals.
@Suite("The register example")
struct RegisterExampleTests {
    static let binary = p2pdbBinary.deletingLastPathComponent().appendingPathComponent("RegisterExample").path

    @Test func twoRegistersSellAndAgreeOnTheTotals() throws {
        let temp = try TemporaryDirectory()
        let (first, second) = (try freePort(), try freePort())
        func register(_ name: String, _ arguments: [String]) throws -> ChildProcess {
            try ChildProcess(
                "/usr/bin/timeout", ["60", Self.binary, "--data", temp.path(name), "--until", "4"] + arguments, stdout: .file(temp.path(name + ".out")),
                stderr: .file(temp.path(name + ".err")))
        }
        for name in ["a", "b"] {
            for suffix in [".out", ".err"] { try Data().write(to: URL(fileURLWithPath: temp.path(name + suffix))) }
        }
        let a = try register("a", ["--listen", "127.0.0.1:\(first)", "--sell", "apple:2", "--sell", "crème:1"])
        let b = try register("b", ["--listen", "127.0.0.1:\(second)", "--join", "127.0.0.1:\(first)", "--sell", "apple:3", "--sell", "pear:1"])
        a.waitUntilExit()
        b.waitUntilExit()
        let outputs = try ["a", "b"].map { try String(contentsOfFile: temp.path($0 + ".out"), encoding: .utf8) }
        let errors = try ["a", "b"].map { try String(contentsOfFile: temp.path($0 + ".err"), encoding: .utf8) }
        #expect(a.terminationStatus == 0 && b.terminationStatus == 0, "\(errors)")
        for output in outputs {
            let totals = output.split(separator: "\n").filter { $0.hasPrefix("total ") }
            #expect(totals == ["total apple 5", "total crème 1", "total pear 1"], "\(output)")
        }
        // Each replica passes verify and holds both registers' entries.
        for name in ["a", "b"] {
            let verify = try p2pdb("verify", "--data", temp.path(name))
            #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
        }
    }
}
