import ArgumentParser
import P2PDB

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a data directory with a new node key and print the node ID.")

    @OptionGroup var data: DataOption

    func run() async throws {
        try await reportingErrors {
            let key = try data.directory.initialize()
            print(key.nodeID.hex)
        }
    }
}
