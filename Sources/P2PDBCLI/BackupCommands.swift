import ArgumentParser
import Foundation
import Logging
import P2PDB
import P2PDBPeerGRPC
import P2PDBServer
import P2PDBSync

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy a node's replica and identity into one backup file, without stopping it.",
        discussion: """
            The backup is one SQLite file: the replica as of one commit, and the data directory's node.key, \
            api.token, network.json and credential.json. It holds the node's key, so it is written with mode \
            0600; keep it as safe as the key. A data directory that a running `p2pdb serve` holds is copied \
            through that node (with the admin token, which --data finds). With --url alone the backup holds the \
            data but no identity files, and restores as a new node. `p2pdb restore` puts a backup back.
            """)

    @OptionGroup var target: TargetOptions

    @Option(help: ArgumentHelp("The backup file to write; - for standard output.", valueName: "file"))
    var out: String

    @OptionGroup var output: JSONOutputOption

    func run() async throws {
        try await reportingErrors {
            guard !(out == StandardStream.name && output.json) else {
                throw P2PDBError(.invalidInput, "--json and --out - would both write to standard output; write the backup to a file")
            }
            let opened = try target.open()
            let toStandardOutput = out == StandardStream.name
            let temporary =
                toStandardOutput
                ? FileManager.default.temporaryDirectory.appendingPathComponent("p2pdb-backup-\(UUID().uuidString)").path
                : out + ".tmp-\(getpid())"
            defer { unlink(temporary) }
            let entries: Int
            let node: NodeID?
            switch opened {
            case .local(let local):
                do {
                    try PrivateFile.createEmpty(temporary)
                    entries = try await local.store.backup(to: temporary)
                } catch {
                    try? await local.close()
                    throw error
                }
                node = local.nodeID
                try await local.close()
            case .remote(let remote):
                let answer = try await remote.backup()
                try PrivateFile.create(temporary, contents: answer.bytes)
                (entries, node) = (answer.entries, answer.node)
            }
            let files = try target.data.map { try Self.identityFiles(DataDirectory(path: $0), of: node) } ?? []
            try await ReplicaBackup.add(files: files, to: temporary)
            let bytes = (try? FileManager.default.attributesOfItem(atPath: temporary)[.size] as? Int) ?? 0
            if toStandardOutput {
                guard let contents = FileManager.default.contents(atPath: temporary) else { throw P2PDBError(.storage, "cannot read \(temporary)") }
                FileHandle.standardOutput.write(contents)
            } else if rename(temporary, out) != 0 {
                throw P2PDBError(.storage, "cannot write \(out): \(String(cString: strerror(errno)))")
            }
            let names = files.map(\.name)
            let identity =
                names.contains("node.key")
                ? "with \(names.joined(separator: ", "))"
                : "without the node's key: it restores as a new node (back up with --data to keep the identity)"
            let message =
                "backed up \(entries) entries of node \(node?.hex ?? "?") to \(toStandardOutput ? "standard output" : out) (\(bytes) bytes), \(identity)"
            if toStandardOutput {
                printError(message)
            } else {
                output.emit(
                    message,
                    json: .object([
                        ("file", .string(out)), ("bytes", .integer(bytes)), ("entries", .integer(entries)),
                        ("node", node.map { .string($0.hex) } ?? .null), ("files", .array(names.map(JSON.string))),
                    ]))
            }
        }
    }

    /// The directory's identity files that exist, checked to belong to the
    /// node that was copied.
    static func identityFiles(_ directory: DataDirectory, of node: NodeID?) throws -> [(name: String, contents: [UInt8])] {
        let key = try directory.loadKey()
        if let node, node != key.nodeID {
            throw P2PDBError(
                .invalidInput, "the node reached is \(node.hex), but \(directory.path) holds the key of \(key.nodeID.hex); back up each node with its own --data")
        }
        var files: [(name: String, contents: [UInt8])] = []
        for name in ReplicaBackup.identityFiles {
            let path = directory.url.appendingPathComponent(name).path
            guard FileManager.default.fileExists(atPath: path) else { continue }
            files.append((name, Array(try PrivateFile.read(path, holding: "the node's \(name)").utf8)))
        }
        return files
    }
}

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a backup file onto an empty data directory.",
        discussion: """
            Checks the backup, writes its identity files and replica into the directory (which must be absent or \
            empty) and verifies the result. The node may have written after the backup was taken, so the restored \
            node refuses local writes until a peer (`p2pdb serve --join`) or a bundle shows how far it wrote; \
            `p2pdb resume-writes` skips that wait, only if the node wrote nothing since the backup. Restore a \
            node's backup only where that node no longer runs: two running copies of one key sign conflicting \
            entries. A backup without a node key (taken with --url alone) restores as a new node with a new key.
            """)

    @OptionGroup var data: DataOption

    @Argument(help: "The backup file, made by `p2pdb backup`; - for standard input.")
    var file: String

    @OptionGroup var output: JSONOutputOption

    func run() async throws {
        try await reportingErrors {
            let directory = data.directory
            try Self.requireEmpty(directory)
            var source = file
            if file == StandardStream.name {
                source = FileManager.default.temporaryDirectory.appendingPathComponent("p2pdb-restore-\(UUID().uuidString)").path
                try PrivateFile.create(source, contents: FileHandle.standardInput.readDataToEndOfFile())
            }
            defer { if source != file { unlink(source) } }
            guard FileManager.default.fileExists(atPath: source) else { throw P2PDBError(.notFound, "cannot read \(file)") }
            let contents = try await ReplicaBackup.inspect(source)
            let created = !FileManager.default.fileExists(atPath: directory.path)
            do {
                let summary = try await Self.restore(contents, from: source, into: directory)
                let sameKey = contents.files["node.key"] != nil
                let next =
                    summary.awaitingOwnHistory
                    ? "; local writes wait until the node learns how far it wrote after the backup: start it with `p2pdb serve --data \(directory.path) --join PEER` or import a bundle from a peer (`p2pdb resume-writes --data \(directory.path)` skips the wait, only if the node wrote nothing since the backup)"
                    : ""
                output.emit(
                    (sameKey
                        ? "restored \(contents.entries) entries of node \(summary.nodeID.hex) into \(directory.path); verified"
                        : "restored \(contents.entries) entries into \(directory.path) as a new node \(summary.nodeID.hex) (the backup holds no node key); verified")
                        + next,
                    json: .object([
                        ("directory", .string(directory.path)), ("node", .string(summary.nodeID.hex)), ("entries", .integer(contents.entries)),
                        ("same_key", .bool(sameKey)), ("awaiting_own_history", .bool(summary.awaitingOwnHistory)),
                        ("files", .array(contents.files.keys.sorted().map(JSON.string))),
                    ]))
            } catch {
                // Nothing half-restored stays behind.
                if created {
                    try? FileManager.default.removeItem(at: directory.url)
                } else {
                    for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] {
                        try? FileManager.default.removeItem(at: directory.url.appendingPathComponent(name))
                    }
                }
                throw error
            }
        }
    }

    static func requireEmpty(_ directory: DataDirectory) throws {
        guard FileManager.default.fileExists(atPath: directory.path) else { return }
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else {
            throw P2PDBError(.invalidInput, "\(directory.path) is not a directory that can be read")
        }
        guard names.isEmpty else {
            throw P2PDBError(
                .invalidInput,
                "\(directory.path) is not empty; restore onto a new or empty directory (move the old one aside first, or rebuild it in place with `p2pdb rebuild`)"
            )
        }
    }

    private static func restore(_ contents: ReplicaBackup.Contents, from source: String, into directory: DataDirectory) async throws -> ReplicaSummary {
        do {
            try FileManager.default.createDirectory(at: directory.url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw P2PDBError(.storage, "cannot create \(directory.path): \(error.localizedDescription)")
        }
        try directory.secure()
        for (name, bytes) in contents.files.sorted(by: { $0.key < $1.key }) {
            guard let text = String(bytes: bytes, encoding: .utf8) else { throw P2PDBError(.corrupt, "the backup's \(name) is not text") }
            try PrivateFile.write(text, to: directory.url.appendingPathComponent(name).path)
        }
        let sameKey = contents.files["node.key"] != nil
        if sameKey {
            _ = try directory.loadKey()
        } else {
            try directory.initialize()
        }
        let staged = directory.url.appendingPathComponent("replica.restoring").path
        guard let bytes = FileManager.default.contents(atPath: source) else { throw P2PDBError(.notFound, "cannot read \(source)") }
        try PrivateFile.create(staged, contents: bytes)
        try await ReplicaBackup.prepareRestoredReplica(at: staged, sameKey: sameKey)
        guard rename(staged, directory.replicaURL.path) == 0 else {
            throw P2PDBError(.storage, "cannot write \(directory.replicaURL.path): \(String(cString: strerror(errno)))")
        }
        let node = try Node.open(directory)
        let report: VerificationReport
        do {
            report = try await node.store.verify()
        } catch {
            try? await node.close()
            throw error
        }
        try await node.close()
        guard report.isValid else {
            throw P2PDBError(.corrupt, "the restored replica does not verify: \(report.problems.first ?? "?"); nothing was restored")
        }
        return node.store.summary
    }
}

struct RebuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Refill a node whose replica was lost or damaged, keeping its key.",
        discussion: """
            Moves replica.sqlite (with its -wal and -shm) aside to replica.damaged-YYYYMMDD-HHMMSS.sqlite, makes a \
            new replica for the same key, and fills it with every entry of the old one that can still be read and \
            verified (so the node's own entries that no peer holds yet are kept), then with --bundle FILE and with \
            what the peer --from HOST:PORT holds. The node never signs a sequence number twice: local writes stay \
            refused until it knows how far it had written, from the old replica when that could be read whole, \
            else from the bundle or the peer. Stop `p2pdb serve` first.
            """)

    @OptionGroup var data: DataOption

    @Option(help: ArgumentHelp("A peer to catch up from: the HOST:PORT it listens on for peers (its serve --listen).", valueName: "address"))
    var from: String?

    @Option(help: ArgumentHelp("A bundle file to import (`p2pdb export` on a peer); - for standard input.", valueName: "file"))
    var bundle: String?

    @Option(help: ArgumentHelp("How long to wait for --from to catch up, in seconds.", valueName: "seconds"))
    var timeout: Double = 300

    @OptionGroup var output: JSONOutputOption

    func run() async throws {
        try await reportingErrors {
            let directory = data.directory
            // Everything given is checked before the replica moves.
            let bundleBytes = try bundle.map { name in
                guard let bytes = StandardStream.read(name) else { throw P2PDBError(.notFound, "cannot read \(name)") }
                return bytes
            }
            if let from { _ = try NetworkAddress.parse(from) }
            guard timeout > 0, timeout.isFinite else { throw P2PDBError(.invalidInput, "--timeout must be a positive number of seconds") }
            let (node, movedTo): (Node, String?)
            do {
                (node, movedTo) = try Node.openMovingReplicaAside(directory)
            } catch let error as P2PDBError where error.kind == .locked {
                throw P2PDBError(.locked, "\(error.message); rebuild replaces the replica that process has open: stop it first")
            }
            var report = RebuildReport(movedTo: movedTo)
            do {
                try await report.fill(node, bundle: bundleBytes, from: from, timeout: timeout)
            } catch {
                try? await node.close()
                throw error
            }
            try await node.close()
            output.emit(report.text(directory), json: report.json(node.nodeID))
        }
    }
}

/// What `rebuild` did, step by step.
private struct RebuildReport {
    var movedTo: String?
    var salvaged = 0
    var unreadable = 0
    var imported = 0
    var caughtUp: Int?
    var entries: Int64 = 0
    var awaitingOwnHistory = true
    var nextSeq: UInt64 = 1

    mutating func fill(_ node: Node, bundle: [UInt8]?, from: String?, timeout: Double) async throws {
        if let movedTo {
            let salvage = await ReplicaBackup.salvage(movedTo, nodeID: node.nodeID)
            salvaged = try await node.store.applySalvaged(salvage.entries)
            unreadable = salvage.unreadable
            if let seq = salvage.ownLastSeq, node.store.summary.awaitingOwnHistory { try await node.store.learnedOwnHistory(through: seq) }
        }
        if let bundle { imported = try await node.store.importBundle(bundle).applied }
        if let from { caughtUp = try await Self.catchUp(node, from: from, timeout: timeout) }
        let verification = try await node.store.verify()
        guard verification.isValid else {
            throw P2PDBError(.corrupt, "the rebuilt replica does not verify: \(verification.problems.first ?? "?")")
        }
        let summary = node.store.summary
        entries = summary.entryCount
        awaitingOwnHistory = summary.awaitingOwnHistory
        nextSeq = summary.versionVector[node.nodeID] + 1
    }

    /// Runs the sync engine with `from` as its only seed until this node has
    /// what the peer holds and knows its own history, then stops it.
    private static func catchUp(_ node: Node, from address: String, timeout: Double) async throws -> Int {
        var logger = Logger(label: "p2pdb.rebuild")
        logger.logLevel = .error
        let transport = try GRPCPeerTransport(key: try node.directory.loadKey(), listen: nil, advertise: nil, logger: logger)
        let configuration = SyncConfiguration(
            seeds: [address], network: try node.directory.networkDescriptor(), credential: try node.directory.credential())
        let engine = SyncEngine(node: node, transport: transport, configuration: configuration, logger: logger)
        let before = node.store.summary.entryCount
        let running = Task { try await engine.run() }
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeout * 1000))
        var done = false
        while !done && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            let status = await engine.catchUpStatus()
            done = status.peers > 0 && status.awaitingVector == 0 && status.entriesBehind == 0 && !node.store.summary.awaitingOwnHistory
        }
        running.cancel()
        _ = try? await running.value
        guard done else {
            let peer = await engine.peers().first { $0.address == address }
            let reason = peer?.lastError.map { ": \($0)" } ?? ""
            throw P2PDBError(
                .unavailable,
                "did not catch up from \(address) within \(Int(timeout)) s\(reason); the new replica keeps what it got. Run `p2pdb serve --data \(node.directory.path) --join \(address)` to finish")
        }
        return Int(node.store.summary.entryCount - before)
    }

    func text(_ directory: DataDirectory) -> String {
        var lines: [String] = []
        if let movedTo {
            lines.append("moved the old replica to \(movedTo)")
            lines.append("salvaged \(salvaged) entries from it\(unreadable > 0 ? " (\(unreadable) could not be read or verified)" : "")")
        } else {
            lines.append("there was no replica; made a new one")
        }
        if imported > 0 { lines.append("imported \(imported) entries from the bundle") }
        if let caughtUp { lines.append("caught up: \(caughtUp) entries from the peer") }
        lines.append("\(entries) entries, verified")
        lines.append(
            awaitingOwnHistory
                ? "local writes wait until the node learns how far it had written: run `p2pdb serve --data \(directory.path) --join PEER`, or import a bundle from a peer"
                : "local writes resume at sequence number \(nextSeq)")
        return lines.joined(separator: "\n")
    }

    func json(_ node: NodeID) -> JSON {
        .object([
            ("node", .string(node.hex)), ("moved_to", movedTo.map(JSON.string) ?? .null), ("salvaged", .integer(salvaged)),
            ("unreadable", .integer(unreadable)), ("imported", .integer(imported)), ("caught_up", caughtUp.map { .integer($0) } ?? .null),
            ("entries", .integer(Int(entries))), ("awaiting_own_history", .bool(awaitingOwnHistory)),
            ("next_seq", awaitingOwnHistory ? .null : .integer(Int(nextSeq))),
        ])
    }
}
