import ArgumentParser
import P2PDB

struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log", abstract: "List log entries, newest first.",
        discussion: "A data directory that a running `p2pdb serve` holds is read through that node.")

    @OptionGroup var target: TargetOptions

    @Option(help: "The most entries to list.")
    var limit = 100

    @Flag(help: "Show each entry's schema and row changes: table, key, values, deltas, deletes.")
    var changes = false

    @Flag(help: "Print entries as JSON.")
    var json = false

    func run() async throws {
        try await reportingErrors {
            guard limit > 0 else { throw P2PDBError(.invalidInput, "--limit must be a positive number") }
            // Both ways give the audit form of GET /v1/entries, so the
            // output is the same whichever way the node is reached.
            let entries: [JSON]
            switch try target.open() {
            case .local(let node):
                entries = try await node.store.recentEntries(limit: limit).map(JSONRendering.entry)
                try await node.close()
            case .remote(let remote):
                entries = try await remote.recentEntries(limit: limit)
            }
            if json {
                printJSON(.array(changes ? entries : entries.map(Self.summary)))
            } else {
                for entry in entries { print(Self.text(entry, changes: changes)) }
            }
        }
    }

    /// The short form, without the changes themselves.
    static func summary(_ entry: JSON) -> JSON {
        .object([
            ("id", entry["id"] ?? .null), ("author", entry["author"] ?? .null), ("seq", entry["seq"] ?? .null),
            ("lamport", entry["lamport"] ?? .null), ("parents", entry["parents"] ?? .array([])),
            ("changes", .integer(entry["changes"]?.arrayValue?.count ?? 0)),
            ("schema_changes", .integer(entry["schema"]?.arrayValue?.count ?? 0)), ("time", entry["time"] ?? .null),
        ])
    }

    static func text(_ entry: JSON, changes: Bool) -> String {
        let parents = (entry["parents"]?.arrayValue ?? []).compactMap { $0.stringValue?.prefix(8) }.joined(separator: ",")
        let rows = entry["changes"]?.arrayValue ?? []
        let schema = entry["schema"]?.arrayValue ?? []
        var lines = [
            "\(entry["id"]?.stringValue ?? "?")  author \(entry["author"]?.stringValue?.prefix(8) ?? "?")  seq \(entry["seq"]?.text ?? "?")  lamport \(entry["lamport"]?.text ?? "?")  parents [\(parents)]  changes \(rows.count)  schema changes \(schema.count)"
        ]
        guard changes else { return lines[0] }
        for change in schema {
            lines.append("    \(change["op"]?.stringValue ?? "?") \(change["table"]?.stringValue ?? ""): \(change["sql"]?.stringValue ?? change["column"]?.stringValue ?? "")")
        }
        for row in rows {
            var line = "    \(row["op"]?.stringValue ?? "?") \(row["table"]?.stringValue ?? "?") \(Self.members(row["key"]))"
            if let values = row["values"] { line += " values \(Self.members(values))" }
            if let deltas = row["deltas"] { line += " deltas \(Self.members(deltas, signed: true))" }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    /// `(id=1, name='apple')`: columns with their values as SQL would write them.
    private static func members(_ json: JSON?, signed: Bool = false) -> String {
        guard case .object(let members)? = json else { return "()" }
        let parts = members.map { name, value -> String in
            let shown: String
            switch value {
            case .string(let text): shown = "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
            case .null: shown = "NULL"
            case .number(let number) where signed && !number.hasPrefix("-"): shown = "+" + number
            default: shown = value["base64"].map { "base64:" + ($0.stringValue ?? "") } ?? value.text
            }
            return "\(name)=\(shown)"
        }
        return "(" + parts.joined(separator: ", ") + ")"
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
            } else {
                print(Self.text(status))
            }
        }
    }
}

extension StatusCommand {
    /// The status for people: a member a line, peers one a line.
    static func text(_ status: JSON) -> String {
        guard case .object(let members) = status else { return status.text }
        return members.map { name, value in
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
            return "\(name):".padding(toLength: 16, withPad: " ", startingAt: 0) + text
        }.joined(separator: "\n")
    }

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
    /// What to run when a replica is damaged.
    static func remedy(_ data: String?) -> String {
        let directory = data ?? "DIR"
        return "To repair it, stop the node and rebuild its replica, keeping its key: `p2pdb rebuild --data \(directory) --from PEER_HOST:PORT` "
            + "or `p2pdb rebuild --data \(directory) --bundle FILE` (a bundle exported by a peer); or restore a backup onto a new directory: "
            + "`p2pdb restore --data NEW_DIR BACKUP_FILE`"
    }

    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every entry's hash and signature and re-derive the tables from the log.",
        discussion: """
            Exits with status 4 and names the first bad entry or row if anything was altered behind P2PDB's back. \
            A data directory that a running `p2pdb serve` holds is verified by that node (it needs the admin token).
            """)

    @OptionGroup var target: TargetOptions

    @OptionGroup var output: JSONOutputOption

    func run() async throws {
        try await reportingErrors {
            let report: JSON
            do {
                switch try target.open() {
                case .local(let node):
                    do {
                        report = JSONRendering.verification(try await node.store.verify())
                    } catch {
                        try? await node.close()
                        throw error
                    }
                    try await node.close()
                case .remote(let remote):
                    report = try await remote.send("GET", "/v1/verify")
                }
            } catch let error as P2PDBError where error.kind == .corrupt {
                // A file too damaged to open or read is damage as well.
                throw P2PDBError(.corrupt, "verification failed: \(error.message). \(Self.remedy(target.data))")
            }
            guard report["ok"] == .bool(true) else {
                if output.json { printJSON(report) }
                let first = report["problems"]?.arrayValue?.first?.stringValue ?? "the node reported a problem"
                throw P2PDBError(.corrupt, "verification failed: \(first). \(Self.remedy(target.data))")
            }
            let entries = report["entries"]?.text ?? "?", rows = report["rows"]?.text ?? "?"
            output.emit(
                "ok: \(entries) entries and \(rows) rows verified; state hash \(report["state_hash"]?.stringValue ?? "?")", json: report)
        }
    }
}
