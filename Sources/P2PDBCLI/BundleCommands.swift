import ArgumentParser
import Foundation
import P2PDB

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write log entries to a bundle file (sync without a network).",
        discussion: "A data directory that a running `p2pdb serve` holds is exported through that node.")

    @OptionGroup var target: TargetOptions

    @Option(help: ArgumentHelp("The bundle file to write.", valueName: "file"))
    var out: String

    @Option(help: ArgumentHelp(
        "Only entries the receiver lacks: its version vector as JSON, e.g. the version_vector of `p2pdb status --json` on the receiver.",
        valueName: "version-vector-json"))
    var since: String?

    func run() async throws {
        try await reportingErrors {
            let vector = try since.map(Self.parseVersionVector)
            let bytes: [UInt8]
            let count: Int
            switch try target.open() {
            case .local(let node):
                (bytes, count) = try await node.store.exportBundle(since: vector)
                try await node.close()
            case .remote(let remote):
                (bytes, count) = try await remote.exportBundle(since: vector)
            }
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
        guard let json = try? JSON.parse(text) else {
            throw P2PDBError(.invalidInput, "--since must be a JSON object of node ID to sequence number")
        }
        do {
            return try VersionVector(json: json)
        } catch {
            throw P2PDBError(.invalidInput, "--since: \(error.message)")
        }
    }
}

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Verify a bundle file and merge its entries; a bad bundle changes nothing.",
        discussion: "A data directory that a running `p2pdb serve` holds is imported through that node.")

    @OptionGroup var target: TargetOptions

    @Argument(help: "The bundle file to read.")
    var file: String

    func run() async throws {
        try await reportingErrors {
            // The directory is checked before the file, as every command does.
            let opened = try target.open()
            let contents = FileManager.default.contents(atPath: file).map(Array.init)
            let report: ApplyReport
            switch opened {
            case .local(let node):
                guard let contents else {
                    try await node.close()
                    throw P2PDBError(.notFound, "cannot read \(file)")
                }
                report = try await node.store.importBundle(contents)
                try await node.close()
            case .remote(let remote):
                guard let contents else { throw P2PDBError(.notFound, "cannot read \(file)") }
                let json = try await remote.importBundle(contents)
                var remoteReport = ApplyReport()
                remoteReport.applied = json["applied"]?.intValue ?? 0
                remoteReport.duplicates = json["duplicates"]?.intValue ?? 0
                remoteReport.pending = json["pending"]?.intValue ?? 0
                report = remoteReport
            }
            print("imported \(report.applied) entries (\(report.duplicates) already held, \(report.pending) waiting for missing parents)")
        }
    }
}
