import ArgumentParser
import P2PDB

struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log", abstract: "List log entries, newest first.")

    @OptionGroup var data: DataOption

    @Option(help: "The most entries to list.")
    var limit = 100

    @Flag(help: "Print entries as JSON.")
    var json = false

    func run() async throws {
        try await reportingErrors {
            let node = try Node.open(data.directory)
            let entries = try await node.store.recentEntries(limit: max(limit, 0))
            if json {
                printJSON(.array(entries.map(Self.summary)))
            } else {
                for applied in entries {
                    let entry = applied.entry
                    let parents = entry.parents.map(\.short).joined(separator: ",")
                    print(
                        "\(entry.id.hex)  author \(entry.author.short)  seq \(entry.seq)  lamport \(entry.lamport)  parents [\(parents)]  changes \(entry.rowChangeCount)  schema changes \(entry.payload.schemaChanges.count)"
                    )
                }
            }
            try await node.close()
        }
    }

    static func summary(_ applied: AppliedEntry) -> JSON {
        let entry = applied.entry
        return .object([
            ("id", .string(entry.id.hex)),
            ("author", .string(entry.author.hex)),
            ("seq", .integer(entry.seq)),
            ("lamport", .integer(entry.lamport)),
            ("parents", .array(entry.parents.map { .string($0.hex) })),
            ("changes", .integer(entry.rowChangeCount)),
            ("schema_changes", .integer(entry.payload.schemaChanges.count)),
            ("time", .integer(entry.wallTime)),
        ])
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the node ID, log size, heads, state hash, version vector and peers.")

    @OptionGroup var target: TargetOptions

    @Flag(help: "Print the status as JSON.")
    var json = false

    func run() async throws {
        try await reportingErrors {
            let status: JSON
            switch try target.open() {
            case .local(let node):
                status = JSONRendering.status(try await node.status())
                try await node.close()
            case .remote(let remote):
                status = try await remote.status()
            }
            if json {
                printJSON(status)
                return
            }
            guard case .object(let members) = status else { return }
            for (name, value) in members {
                let text: String
                switch value {
                case .string(let string): text = string
                case .number(let number): text = number
                case .array(let items) where name == "heads": text = items.map { $0.stringValue ?? $0.text }.joined(separator: " ")
                case .array(let items) where name == "peers" && !items.isEmpty:
                    text = items.map(Self.peerLine).joined(separator: "\n" + String(repeating: " ", count: 16))
                case .array(let items): text = items.isEmpty ? "none" : value.text
                default: text = value.text
                }
                print("\(name):".padding(toLength: 16, withPad: " ", startingAt: 0) + text)
            }
        }
    }
}

extension StatusCommand {
    /// One peer of `/v1/status` on one line: where, whether connected, how
    /// it was learned, then what is known of it.
    static func peerLine(_ peer: JSON) -> String {
        var parts = [peer["address"]?.stringValue ?? "?", peer["connected"] == .bool(true) ? "connected" : "not connected"]
        if let node = peer["node_id"]?.stringValue { parts.append("node \(node.prefix(8))") }
        if let source = peer["source"]?.stringValue { parts.append(source) }
        if let roundTrip = peer["round_trip_ms"]?.intValue { parts.append("round trip \(roundTrip) ms") }
        if let contact = peer["last_contact"]?.stringValue { parts.append("last contact \(contact)") }
        if let error = peer["last_error"]?.stringValue {
            parts.append("last error \(peer["last_error_at"]?.stringValue ?? "?"): \(error)")
        }
        return parts.joined(separator: ", ")
    }
}

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every entry's hash and signature and re-derive the tables from the log.",
        discussion: "Exits with status 4 and names the first bad entry or row if anything was altered behind P2PDB's back.")

    @OptionGroup var data: DataOption

    @OptionGroup var output: JSONOutputOption

    func run() async throws {
        try await reportingErrors {
            let node = try Node.open(data.directory)
            let report = try await node.store.verify()
            try await node.close()
            let document = JSON.object([
                ("ok", .bool(report.isValid)), ("entries", .integer(report.entriesChecked)), ("rows", .integer(report.rowsChecked)),
                ("state_hash", .string(report.stateHash.hex)), ("problems", .array(report.problems.map(JSON.string))),
            ])
            guard report.isValid else {
                if output.json { printJSON(document) }
                throw P2PDBError(.corrupt, "verification failed: \(report.problems[0])")
            }
            output.emit(
                "ok: \(report.entriesChecked) entries and \(report.rowsChecked) rows verified; state hash \(report.stateHash.hex)", json: document)
        }
    }
}
