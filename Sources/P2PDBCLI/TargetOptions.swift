import ArgumentParser
import Foundation
import P2PDB

/// Where a command sends its work: a data directory opened in this process,
/// or a running node over HTTP.
struct TargetOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The node's data directory (default: $P2PDB_DATA).", valueName: "dir"))
    var data: String?

    @Option(help: ArgumentHelp("A running node's HTTP API, e.g. http://127.0.0.1:7070 (default: $P2PDB_URL).", valueName: "url"))
    var url: String?

    @Option(help: ArgumentHelp("The API token for --url (default: $P2PDB_TOKEN).", valueName: "token"))
    var token: String?

    enum Target {
        case local(Node)
        case remote(RemoteNode)
    }

    /// Opens the data directory, or, when a `p2pdb serve` process holds it,
    /// goes through that process's API so that both never write at once.
    func open() throws -> Target {
        if let url {
            let token = self.token ?? (try? data.map { try DataDirectory(path: $0).apiToken() } ?? nil) ?? ""
            return .remote(try RemoteNode(url: url, token: token))
        }
        guard let data else { throw P2PDBError(.invalidInput, "say which node: --data DIR, or --url URL --token TOKEN") }
        let directory = DataDirectory(path: data)
        do {
            return .local(try Node.open(directory))
        } catch let error as P2PDBError where error.kind == .locked {
            guard let info = ServeInfo.read(directory) else { throw error }
            return .remote(try RemoteNode(url: info.url, token: info.token))
        }
    }
}
