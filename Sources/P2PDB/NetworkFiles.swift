import Foundation
import P2PDBCore

/// The private network a data directory belongs to: its descriptor and this
/// node's credential, kept beside the key so that every later start, and
/// every local command, knows them without flags.
extension DataDirectory {
    public var networkURL: URL { url.appendingPathComponent("network.json") }
    public var credentialURL: URL { url.appendingPathComponent("credential.json") }

    /// The network this directory joined; nil in open mode.
    public func networkDescriptor() throws -> NetworkDescriptor? {
        guard FileManager.default.fileExists(atPath: networkURL.path) else { return nil }
        return try NetworkDescriptor(json: PrivateFile.readJSON(networkURL.path, what: "network descriptor"))
    }

    /// This node's credential; nil if it has none.
    public func credential() throws -> Credential? {
        guard FileManager.default.fileExists(atPath: credentialURL.path) else { return nil }
        return try Credential(json: PrivateFile.readJSON(credentialURL.path, what: "credential"))
    }

    /// Joins `network` with `credential` (checked first: it must be the
    /// network's, for this node, unexpired at `now`), or takes a renewed
    /// credential for the network already joined.
    public func join(_ network: NetworkDescriptor, credential: Credential?, node: NodeID, now: Int64) throws {
        if let current = try networkDescriptor(), current.id != network.id {
            throw P2PDBError(
                .invalidInput,
                "\(path) belongs to network \(current.label), not \(network.label); a node belongs to one network: use a new data directory")
        }
        if let credential, let problem = credential.problem(network: network.id, node: node, now: now) {
            throw P2PDBError(.invalidInput, "this node cannot use that credential: \(problem)")
        }
        try PrivateFile.write(network.json.text + "\n", to: networkURL.path)
        if let credential { try PrivateFile.write(credential.json.text + "\n", to: credentialURL.path) }
    }

    /// `options` with the network and credential this directory keeps,
    /// where `options` names none.
    public func networkOptions(_ options: StoreOptions) throws -> StoreOptions {
        var options = options
        if options.network == nil { options.network = try networkDescriptor()?.id }
        if options.credential == nil { options.credential = try credential() }
        return options
    }
}
