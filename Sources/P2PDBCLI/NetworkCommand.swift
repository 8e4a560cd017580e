import ArgumentParser
import Foundation
import P2PDB

/// `p2pdb network`: private networks, administered offline with a network
/// key that stays on one machine (a shop's head office).
struct NetworkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network",
        abstract: "Create a private network and admit nodes to it.",
        discussion: """
            A private network admits only nodes holding a credential signed by its network key. Create the network once, \
            admit each node by its node ID (`p2pdb status --data DIR` shows it), then start each node with \
            `p2pdb serve --network NETWORK_FILE --credential CREDENTIAL_FILE`. Keep the network key offline: anyone holding \
            it can admit nodes.
            """,
        subcommands: [
            CreateNetworkCommand.self, AdmitCommand.self, GrantCommand.self, RevokeCommand.self, RestrictCommand.self,
            ShowNetworkFileCommand.self,
        ])
}

struct CreateNetworkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a network key (mode 0600) and print the network descriptor nodes are given.")

    @Option(help: "The network's name, for people (\"shop\").")
    var name: String

    @Option(help: ArgumentHelp("Where to write the network key; it must not exist.", valueName: "network-key-file"))
    var out: String

    @Option(help: ArgumentHelp("Also write the descriptor to this file (default: print it).", valueName: "network-file"))
    var descriptor: String?

    @OptionGroup var output: JSONOutputOption

    func run() async throws {
        try await reportingErrors {
            guard !name.isEmpty, name.count <= 100, !name.contains(where: \.isNewline) else {
                throw P2PDBError(.invalidInput, "--name must be 1 to 100 characters on one line")
            }
            guard !FileManager.default.fileExists(atPath: out) else {
                throw P2PDBError(.invalidInput, "\(out) exists; a network key is never overwritten (choose another --out)")
            }
            let key = NodeKey()
            let network = NetworkDescriptor(id: NetworkID(key: key), name: name)
            try NetworkKeyFile(name: name, key: key).write(to: out)
            let text = network.json.text + "\n"
            if let descriptor { try PrivateFile.write(text, to: descriptor) }
            if output.json {
                printJSON(
                    .object([
                        ("descriptor", network.json), ("key_file", .string(out)), ("descriptor_file", descriptor.map(JSON.string) ?? .null),
                    ]))
            } else if let descriptor {
                printError("network \(network.label): key in \(out) (keep it offline), descriptor in \(descriptor)")
            } else {
                print(text, terminator: "")
                printError("network \(network.label): key in \(out) (keep it offline); give nodes the descriptor above")
            }
        }
    }
}

struct AdmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admit", abstract: "Issue a node's credential, offline, signed with the network key.")

    @Option(help: ArgumentHelp("The network key (from `network create`).", valueName: "network-key-file"))
    var key: String

    @Option(help: ArgumentHelp("The node's ID: 64 hex digits, as `p2pdb status` prints it.", valueName: "node-id"))
    var node: String

    @Option(help: "reader (replicates, never writes), writer or admin.")
    var role: String = "writer"

    @Option(help: ArgumentHelp("When the credential expires: 2027-01-31 (midnight UTC) or 2027-01-31T18:00:00Z.", valueName: "date"))
    var expires: String?

    @Option(help: ArgumentHelp("Where to write the credential; - for standard output.", valueName: "credential-file"))
    var out: String

    func run() async throws {
        try await reportingErrors {
            guard let nodeID = NodeID(hex: node.lowercased()) else {
                throw P2PDBError(.invalidInput, "--node must be a node ID of 64 hex digits (`p2pdb status --data DIR` prints it)")
            }
            guard let role = NetworkRole(name: role) else {
                throw P2PDBError(.invalidInput, "--role must be reader, writer or admin, not \(role)")
            }
            let now = SystemClock().now()
            var expiresAt: Int64?
            if let expires {
                guard let time = Timestamps.milliseconds(iso8601: expires) else {
                    throw P2PDBError(.invalidInput, "--expires must be a date like 2027-01-31 or 2027-01-31T18:00:00Z, not \(expires)")
                }
                guard time > now else { throw P2PDBError(.invalidInput, "--expires \(expires) is in the past") }
                expiresAt = time
            }
            let networkKey = try NetworkKeyFile.read(key)
            let credential = Credential.issue(by: networkKey.key, for: nodeID, role: role, issuedAt: now, expiresAt: expiresAt)
            if out == StandardStream.name {
                print(credential.json.text)
            } else {
                try PrivateFile.write(credential.json.text + "\n", to: out)
            }
            let until = expiresAt.map { " until \(Timestamps.iso8601(milliseconds: $0))" } ?? ""
            printError("admitted node \(nodeID.short) to network \"\(networkKey.name)\" as \(role)\(until): \(out)")
        }
    }
}

struct GrantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grant",
        abstract: "From an admin node: admit a node, or change its role, with an entry of the log.",
        discussion: """
            Works offline: the grant replicates like any write and takes effect for every entry that follows it. A node \
            admitted this way needs no credential file; it first connects to a node that holds the grant.
            """)

    @OptionGroup var target: TargetOptions

    @Option(help: ArgumentHelp("The node's ID: 64 hex digits.", valueName: "node-id"))
    var node: String

    @Option(help: "reader, writer or admin.")
    var role: String

    @OptionGroup var output: JSONOutputOption

    func run() async throws {
        try await reportingErrors {
            guard let role = NetworkRole(name: role) else { throw P2PDBError(.invalidInput, "--role must be reader, writer or admin, not \(role)") }
            let entry = try await administer(.grant(node: try parseNodeID(node), role: role), target: target)
            output.emit("granted \(role) to \(node.prefix(8)) in entry \(entry)", json: .object([("entry", .string(entry))]))
        }
    }
}

struct RevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "From an admin node: remove a node from the network, with an entry of the log.",
        discussion: """
            Entries the node writes after it has seen the revocation are refused by every node, and nodes that hold it \
            refuse the revoked node's connections. Entries it wrote concurrently (before the revocation reached it) are \
            accepted: see docs/RELIABILITY.md, "Private networks: threat model".
            """)

    @OptionGroup var target: TargetOptions

    @Option(help: ArgumentHelp("The node's ID: 64 hex digits.", valueName: "node-id"))
    var node: String

    @OptionGroup var output: JSONOutputOption

    func run() async throws {
        try await reportingErrors {
            let entry = try await administer(.revoke(node: try parseNodeID(node)), target: target)
            output.emit("revoked \(node.prefix(8)) in entry \(entry)", json: .object([("entry", .string(entry))]))
        }
    }
}

struct RestrictCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restrict",
        abstract: "From an admin node: say who may write to a table (e.g. only head office changes prices).",
        discussion: """
            The rule replicates like schema and every node enforces it, for local writes (403) and received entries alike, \
            from the entries that follow it in the history. `--role writer` with no --node lifts a restriction.
            """)

    @OptionGroup var target: TargetOptions

    @Option(help: "The replicated table.")
    var table: String

    @Option(help: "The lowest role that may write to it: writer or admin.")
    var role: String

    @Option(help: ArgumentHelp("A node that may write to it whatever its role; repeat for several.", valueName: "node-id"))
    var node: [String] = []

    @OptionGroup var output: JSONOutputOption

    func run() async throws {
        try await reportingErrors {
            guard let minimum = NetworkRole(name: role), minimum.mayWrite else {
                throw P2PDBError(.invalidInput, "--role must be writer or admin, not \(role)")
            }
            let rule = TableRule(minimumRole: minimum, nodes: try node.map(parseNodeID))
            let entry = try await administer(.restrict(table: table, rule: rule), target: target)
            output.emit("\(table) now takes writes from \(rule.description), from entry \(entry) on", json: .object([("entry", .string(entry))]))
        }
    }
}

private func parseNodeID(_ text: String) throws -> NodeID {
    guard let node = NodeID(hex: text.lowercased()) else {
        throw P2PDBError(.invalidInput, "--node must be a node ID of 64 hex digits (`p2pdb status --data DIR` prints it)")
    }
    return node
}

/// Signs a grant, revocation or table rule on the node, locally or through
/// its API.
private func administer(_ change: MembershipChange, target: TargetOptions) async throws -> String {
    switch try target.open() {
    case .local(let node):
        do {
            let entry = try await node.store.administer([change])
            try await node.close()
            return entry.hex
        } catch {
            try? await node.close()
            throw error
        }
    case .remote(let remote):
        guard let entry = try await remote.send("POST", "/v1/network/changes", body: change.json)["entry"]?.stringValue else {
            throw P2PDBError(.corrupt, "the node answered without an entry")
        }
        return entry
    }
}

struct ShowNetworkFileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Print what a network descriptor or a credential file says, and check it.")

    @Argument(help: ArgumentHelp("A network descriptor or credential file.", valueName: "file"))
    var file: String

    @OptionGroup var output: JSONOutputOption

    func run() async throws {
        try await reportingErrors {
            let json = try PrivateFile.readJSON(file, what: "file")
            if json["format"]?.stringValue == NetworkDescriptor.format {
                let network = try NetworkDescriptor(json: json)
                output.emit(
                    "network \(network.name)\nid      \(network.id.hex)",
                    json: .object([("kind", .string("network")), ("name", .string(network.name)), ("id", .string(network.id.hex))]))
                return
            }
            let credential = try Credential(json: json)
            // The credential names its network, whose ID is its public key.
            let signed = credential.isSignedByItsNetwork
            let issued = Timestamps.iso8601(milliseconds: credential.issuedAt)
            let expires = credential.expiresAt.map { Timestamps.iso8601(milliseconds: $0) }
            output.emit(
                """
                credential for node \(credential.node.hex)
                network    \(credential.network.hex)
                role       \(credential.role)
                issued     \(issued)
                expires    \(expires ?? "never")
                signature  \(signed ? "valid" : "NOT the network key's (forged or altered)")
                """,
                json: .object([
                    ("kind", .string("credential")), ("node", .string(credential.node.hex)), ("network", .string(credential.network.hex)),
                    ("role", .string("\(credential.role)")), ("issued", .string(issued)), ("expires", expires.map(JSON.string) ?? .null),
                    ("signature_valid", .bool(signed)),
                ]))
            if !signed { throw ExitCode(4) }
        }
    }
}

/// The network key file: the key's seed and the network's name, mode 0600.
struct NetworkKeyFile {
    static let format = "p2pdb-network-key-v1"
    var name: String
    var key: NodeKey

    func write(to path: String) throws {
        let json = JSON.object([
            ("format", .string(Self.format)), ("name", .string(name)), ("network", .string(NetworkID(key: key).hex)),
            ("seed", .string(Hex.encode(key.seed))),
        ])
        try PrivateFile.write(json.text + "\n", to: path)
    }

    static func read(_ path: String) throws -> NetworkKeyFile {
        let text = try PrivateFile.read(path, holding: "the network key, with which anyone could admit nodes")
        let json: JSON
        do {
            json = try JSON.parse(text)
        } catch {
            throw P2PDBError(.invalidInput, "\(path) is not a P2PDB network key (make one with `p2pdb network create`)")
        }
        guard json["format"]?.stringValue == format, let name = json["name"]?.stringValue, let seedHex = json["seed"]?.stringValue,
            let seed = Hex.decode(seedHex), let key = try? NodeKey(seed: seed),
            json["network"]?.stringValue == NetworkID(key: key).hex
        else {
            throw P2PDBError(.invalidInput, "\(path) is not a P2PDB network key (make one with `p2pdb network create`)")
        }
        return NetworkKeyFile(name: name, key: key)
    }
}
