import ArgumentParser
import P2PDB

/// `p2pdb resume-writes`: the way out for a replica that waits for its own
/// earlier entries when no peer or bundle can ever bring them.
struct ResumeWritesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume-writes",
        abstract: "Let a replica made anew for an existing key write without learning its node's earlier entries.",
        discussion: """
            A replica created for a node key that already existed (the key was restored onto an empty \
            disk, or the replica file was deleted) refuses local writes until a peer or a bundle has \
            shown how far the node had written, so that it never signs two entries with one sequence \
            number. Use this only if the key never wrote anything, or its entries are lost everywhere: \
            if another replica holds entries this node signed, its next writes conflict with them and \
            every peer records the equivocation.
            """)

    @OptionGroup var data: DataOption

    @OptionGroup var output: JSONOutputOption

    func run() async throws {
        try await reportingErrors {
            let node = try Node.open(data.directory)
            let waiting = node.store.summary.awaitingOwnHistory
            if waiting { try await node.store.resumeWritesWithoutOwnHistory() }
            try await node.close()
            let next = node.store.summary.versionVector[node.nodeID] + 1
            output.emit(
                waiting
                    ? "local writes resume; the node's next entry has sequence number \(next)"
                    : "\(data.directory.path) is not waiting for its own entries; nothing to do",
                json: .object([("resumed", .bool(waiting)), ("next_seq", .integer(next))]))
        }
    }
}
