import ArgumentParser
import P2PDB

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a data directory with a new node key and print the node ID.")

    @OptionGroup var data: DataOption

    @OptionGroup var output: JSONOutputOption

    func run() async throws {
        try await reportingErrors {
            let key = try data.directory.initialize()
            output.emit(key.nodeID.hex, json: .object([("node_id", .string(key.nodeID.hex)), ("data", .string(data.data))]))
        }
    }
}
