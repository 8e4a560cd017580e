import Foundation
import GRDB
import P2PDBCore

/// A backup file and the salvage of a damaged replica.
///
/// A backup is one SQLite file: the replica as of one commit (SQLite's
/// backup API on a reader, so writes go on meanwhile), plus the table
/// `_p2pdb_backup_files(name, contents)` holding the data directory's
/// identity files. Restoring drops that table and puts the file in place.
public enum ReplicaBackup {
    static let filesTable = "_p2pdb_backup_files"

    /// The identity files a backup may hold; any other name in a backup is
    /// ignored, so that a forged backup cannot write elsewhere.
    public static let identityFiles = ["node.key", "api.token", "network.json", "credential.json"]

    /// What a backup file holds, as ``inspect(_:)`` found it.
    public struct Contents: Sendable {
        /// Identity files by name (only names of ``identityFiles``).
        public var files: [String: [UInt8]]
        public var entries: Int
    }

    /// Copies the open replica `db` as of its read transaction into the
    /// empty or absent file at `path`, as a backup without identity files.
    /// Returns how many entries the copy holds.
    static func copy(from db: Database, to path: String) throws -> Int {
        let entries = try Int.fetchOne(db, sql: "SELECT count(*) FROM _p2pdb_entries") ?? 0
        let target = try DatabaseQueue(path: path)
        try target.writeWithoutTransaction { copy in
            try db.backup(to: copy)
            // One self-contained file to carry around, not a WAL database.
            try copy.execute(sql: "PRAGMA journal_mode = DELETE")
            try copy.execute(sql: "CREATE TABLE \(filesTable) (name TEXT PRIMARY KEY, contents BLOB NOT NULL)")
        }
        try target.close()
        return entries
    }

    /// Adds identity files to the backup at `path`.
    public static func add(files: [(name: String, contents: [UInt8])], to path: String) async throws {
        let files = files.map { (name: $0.name, contents: Data($0.contents)) }
        do {
            let queue = try DatabaseQueue(path: path)
            try await queue.write { db in
                for file in files where identityFiles.contains(file.name) {
                    try db.execute(
                        sql: "INSERT OR REPLACE INTO \(filesTable)(name, contents) VALUES (?, ?)",
                        arguments: [file.name, file.contents])
                }
            }
            try queue.close()
        } catch {
            throw StoreErrors.map(error)
        }
    }

    /// Checks that `path` is a whole P2PDB backup (SQLite's integrity check,
    /// the log's tables, the files table) and reads what it holds.
    public static func inspect(_ path: String) async throws -> Contents {
        let notBackup = P2PDBError(.corrupt, "\(path) is not a P2PDB backup (made by `p2pdb backup`)")
        do {
            var configuration = Configuration()
            configuration.readonly = true
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            defer { try? queue.close() }
            return try await queue.read { db in
                let tables = Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'"))
                guard tables.isSuperset(of: [filesTable, "_p2pdb_entries", "_p2pdb_meta"]) else { throw notBackup }
                let problems = try String.fetchAll(db, sql: "PRAGMA integrity_check")
                guard problems == ["ok"] else {
                    throw P2PDBError(.corrupt, "\(path) is damaged: \(problems.prefix(3).joined(separator: "; "))")
                }
                var files: [String: [UInt8]] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT name, contents FROM \(filesTable)") {
                    let name: String = row[0]
                    if identityFiles.contains(name), let bytes = (row[1] as DatabaseValue).storage.blobBytes { files[name] = bytes }
                }
                let entries = try Int.fetchOne(db, sql: "SELECT count(*) FROM _p2pdb_entries") ?? 0
                return Contents(files: files, entries: entries)
            }
        } catch let error as DatabaseError where [.SQLITE_NOTADB, .SQLITE_CORRUPT].contains(error.resultCode) {
            throw notBackup
        } catch {
            throw StoreErrors.map(error)
        }
    }

    /// Turns a copy of a backup at `path` into a replica file: drops the
    /// identity files, and records what its node's own history is known to
    /// be. For the backed-up key, unknown: the node may have written after
    /// the backup, and must learn how far before it writes again (see
    /// ``OwnHistory``). For a new key, complete: it never wrote.
    public static func prepareRestoredReplica(at path: String, sameKey: Bool) async throws {
        do {
            let queue = try DatabaseQueue(path: path)
            try await queue.write { db in
                try db.execute(sql: "DROP TABLE IF EXISTS \(filesTable)")
                if !sameKey {
                    try OwnHistory.complete.save(db)
                } else if try OwnHistory.load(db) == .complete {
                    try OwnHistory.unknown.save(db)
                }
            }
            try queue.close()
        } catch {
            throw StoreErrors.map(error)
        }
    }

    /// What could be read from a damaged replica file.
    public struct Salvage: Sendable {
        /// Entries whose signature and hash check, in log order.
        public var entries: [Entry] = []
        /// Rows that could not be read or did not check.
        public var unreadable = 0
        /// The last sequence number the damaged replica says its own node
        /// signed, when it could say so reliably: its own history was
        /// complete and its author row read without error (or, if it was
        /// still waiting for it, how far a peer had said the node wrote).
        public var ownLastSeq: UInt64?
    }

    /// Reads every entry that can still be read from the replica file at
    /// `path`, row by row past damaged pages, and verifies each. Never
    /// throws: an unreadable file salvages nothing.
    public static func salvage(_ path: String, nodeID: NodeID) async -> Salvage {
        var configuration = Configuration()
        configuration.readonly = true
        guard let queue = try? DatabaseQueue(path: path, configuration: configuration) else { return Salvage() }
        defer { try? queue.close() }
        // Outside a transaction: a damaged page rolls a transaction back,
        // which would throw away what was read before it.
        let read = (try? await queue.unsafeRead { db in readRows(db, nodeID: nodeID) }) ?? RawSalvage()
        let checked = await ComputeQueue.signatures.run { EntryVerifier.check(read.bodies) }
        var salvage = Salvage()
        var seen = Set<EntryID>()
        for result in checked {
            guard case .success(let entry) = result else {
                salvage.unreadable += 1
                continue
            }
            if seen.insert(entry.id).inserted { salvage.entries.append(entry) }
        }
        salvage.unreadable += read.unreadable
        if let own = read.ownLastSeq {
            let salvagedOwn = salvage.entries.filter { $0.author == nodeID }.map(\.seq).max() ?? 0
            salvage.ownLastSeq = max(own, salvagedOwn)
        }
        return salvage
    }

    private struct RawSalvage: Sendable {
        var bodies: [[UInt8]] = []
        var unreadable = 0
        var ownLastSeq: UInt64?
    }

    private static func readRows(_ db: Database, nodeID: NodeID) -> RawSalvage {
        var result = RawSalvage()
        var positions = Set<Int64>()
        // The whole log in one scan, as far as it goes.
        var scanFailed = false
        do {
            let rows = try Row.fetchCursor(db, sql: "SELECT position, body FROM _p2pdb_entries ORDER BY position")
            while let row = try rows.next() {
                positions.insert(row[0])
                if let body = (row[1] as DatabaseValue).storage.blobBytes { result.bodies.append(body) }
            }
        } catch {
            scanFailed = true
        }
        // Past a damaged page: each remaining row by its key, which reads
        // only the pages on the way to it.
        if scanFailed, let last = try? Int64.fetchOne(db, sql: "SELECT max(position) FROM _p2pdb_entries") {
            for position in Int64(1)...max(last, 1) where !positions.contains(position) {
                do {
                    if let body = try DatabaseValue.fetchOne(db, sql: "SELECT body FROM _p2pdb_entries WHERE position = ?", arguments: [position])?
                        .storage.blobBytes
                    {
                        result.bodies.append(body)
                    }
                } catch {
                    result.unreadable += 1
                }
            }
        }
        // Verified entries that waited for their parents.
        if let rows = try? Row.fetchAll(db, sql: "SELECT body FROM _p2pdb_pending") {
            result.bodies += rows.compactMap { ($0[0] as DatabaseValue).storage.blobBytes }
        }
        // Only a replica that held its whole own history can tell where it
        // ends; both the author row and the log's own rows must read. One
        // that was still waiting passes on what it had learned, as a peer
        // would; one that knew nothing, nothing.
        let author = nodeID.raw.bytes.databaseBlob
        let history = try? OwnHistory.load(db)
        if case .awaiting(let seq)? = history {
            result.ownLastSeq = seq
        } else if history == .complete,
            let counted = try? Int64.fetchOne(db, sql: "SELECT contiguous_seq FROM _p2pdb_authors WHERE node_id = ?", arguments: [author]) ?? 0,
            let logged = try? Int64.fetchOne(
                db, sql: "SELECT max(seq) FROM _p2pdb_entries WHERE author = (SELECT idx FROM _p2pdb_authors WHERE node_id = ?)",
                arguments: [author]) ?? 0
        {
            result.ownLastSeq = UInt64(max(counted, logged, 0))
        }
        return result
    }
}

extension ReplicaStore {
    /// Writes a backup of the replica as of its last commit to the empty or
    /// absent file at `path`, on a reader: writes go on meanwhile. Returns
    /// how many entries it holds. The caller adds the identity files
    /// (``ReplicaBackup/add(files:to:)``).
    public func backup(to path: String) async throws -> Int {
        try await read { db in try ReplicaBackup.copy(from: db, to: path) }
    }

    /// Applies entries salvaged from a damaged replica, in pages, keeping
    /// those whose parents are missing as pending. Returns how many were
    /// applied.
    public func applySalvaged(_ entries: [Entry]) async throws -> Int {
        var applied = 0
        var start = 0
        while start < entries.count {
            let end = min(start + 1000, entries.count)
            applied += try await apply(Array(entries[start..<end])).applied
            start = end
        }
        return applied
    }
}
