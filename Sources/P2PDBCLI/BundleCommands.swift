import ArgumentParser
import Foundation
import P2PDB

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write log entries to a bundle file (sync without a network).")

    @OptionGroup var data: DataOption

    @Option(help: ArgumentHelp("The bundle file to write.", valueName: "file"))
    var out: String

    @Option(help: ArgumentHelp(
        "Only entries the receiver lacks: its version vector as JSON, e.g. the version_vector of `p2pdb status --json` on the receiver.",
        valueName: "version-vector-json"))
    var since: String?

    func run() async throws {
        try await reportingErrors {
            let vector = try since.map(Self.parseVersionVector)
            let node = try Node.open(data.directory)
            let (bytes, count) = try await node.store.exportBundle(since: vector)
            try await node.close()
            let temporary = out + ".tmp-\(getpid())"
            guard FileManager.default.createFile(atPath: temporary, contents: Data(bytes)) else {
                throw P2PDBError(.storage, "cannot write \(out)")
            }
            guard rename(temporary, out) == 0 else {
                throw P2PDBError(.storage, "cannot write \(out): \(String(cString: strerror(errno)))")
            }
            print("exported \(count) entries to \(out)")
        }
    }

    static func parseVersionVector(_ text: String) throws -> VersionVector {
        guard case .object(let members) = try JSON.parse(text) else {
            throw P2PDBError(.invalidInput, "--since must be a JSON object of node ID to sequence number")
        }
        var counts: [NodeID: UInt64] = [:]
        for (key, value) in members {
            guard let nodeID = NodeID(hex: key) else {
                throw P2PDBError(.invalidInput, "--since: \(key) is not a node ID (64 hex digits)")
            }
            guard case .number(let number) = value, let seq = UInt64(number) else {
                throw P2PDBError(.invalidInput, "--since: the sequence number of \(nodeID.short) must be a non-negative integer")
            }
            counts[nodeID] = seq
        }
        return VersionVector(counts)
    }
}

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Verify a bundle file and merge its entries; a bad bundle changes nothing.")

    @OptionGroup var data: DataOption

    @Argument(help: "The bundle file to read.")
    var file: String

    func run() async throws {
        try await reportingErrors {
            guard let contents = FileManager.default.contents(atPath: file) else {
                throw P2PDBError(.notFound, "cannot read \(file)")
            }
            let node = try Node.open(data.directory)
            let report = try await node.store.importBundle(Array(contents))
            try await node.close()
            print("imported \(report.applied) entries (\(report.duplicates) already held, \(report.pending) waiting for missing parents)")
        }
    }
}
