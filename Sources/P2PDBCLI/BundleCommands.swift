import ArgumentParser
import Foundation
import P2PDB

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write log entries to a bundle file (sync without a network).",
        discussion: "A data directory that a running `p2pdb serve` holds is exported through that node.")

    @OptionGroup var target: TargetOptions

    @Option(help: ArgumentHelp("The bundle file to write; - for standard output.", valueName: "file"))
    var out: String

    @Option(help: ArgumentHelp(
        "Only entries the receiver lacks: its version vector as JSON, e.g. the version_vector of `p2pdb status --json` on the receiver.",
        valueName: "version-vector-json"))
    var since: String?

    @OptionGroup var output: JSONOutputOption

    func run() async throws {
        try await reportingErrors {
            guard !(out == StandardStream.name && output.json) else {
                throw P2PDBError(.invalidInput, "--json and --out - would both write to standard output; write the bundle to a file")
            }
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
            try StandardStream.write(bytes, to: out)
            let message = "exported \(count) entries to \(out == StandardStream.name ? "standard output" : out)"
            // Standard output holds the bundle itself.
            if out == StandardStream.name {
                printError(message)
            } else {
                output.emit(message, json: .object([("entries", .integer(count)), ("file", .string(out)), ("bytes", .integer(bytes.count))]))
            }
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

    @Argument(help: "The bundle file to read; - for standard input.")
    var file: String

    @OptionGroup var output: JSONOutputOption

    func run() async throws {
        try await reportingErrors {
            // The directory is checked before the file, as every command does.
            let opened = try target.open()
            let contents = StandardStream.read(file)
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
            output.emit(
                "imported \(report.applied) entries (\(report.duplicates) already held, \(report.pending) waiting for missing parents)",
                json: .object([
                    ("applied", .integer(report.applied)), ("duplicates", .integer(report.duplicates)), ("pending", .integer(report.pending)),
                ]))
        }
    }
}
