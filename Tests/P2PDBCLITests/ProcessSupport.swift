import Foundation
@_exported import P2PDBTestSupport
import Testing

/// The `p2pdb` binary built next to the test bundle.
let p2pdbBinary: URL = {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent("p2pdb")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    var root = URL(fileURLWithPath: #filePath)
    while root.path != "/" {
        root.deleteLastPathComponent()
        let candidate = root.appendingPathComponent(".build/debug/p2pdb")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    return URL(fileURLWithPath: "p2pdb")
}()

/// Runs `p2pdb` with arguments and waits for it.
@discardableResult
func p2pdb(_ arguments: String..., input: String? = nil) throws -> CommandOutput {
    try p2pdb(arguments: arguments, input: input)
}

func p2pdb(arguments: [String], input: String? = nil) throws -> CommandOutput {
    try ChildProcess.run(p2pdbBinary.path, arguments, input: input)
}

