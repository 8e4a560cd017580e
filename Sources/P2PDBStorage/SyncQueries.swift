import GRDB
import P2PDBCore

/// A page of a pull reply: the entries, and where the next page starts.
public struct EntryPage: Sendable {
    public var bodies: [[UInt8]]
    /// Pass back as `after` for the next page.
    public var lastPosition: Int64
    /// True when the log has nothing after this page.
    public var isLast: Bool
}

/// What the sync engine asks of a replica: what it holds, and its entries
/// in pages, without loading the log into memory.
extension ReplicaStore {
    /// The IDs among `ids` that the log holds.
    public func held(_ ids: [EntryID]) async throws -> Set<EntryID> {
        guard !ids.isEmpty else { return [] }
        return try await read { db in
            var held = Set<EntryID>()
            for id in ids where try LogStore.contains(db, id: id) { held.insert(id) }
            return held
        }
    }

    /// The canonical bytes of the held entries among `ids`, in log order
    /// (so that parents come before children).
    public func bodies(of ids: [EntryID]) async throws -> [[UInt8]] {
        try await read { db in
            var found: [(Int64, [UInt8])] = []
            for id in ids {
                guard let position = try LogStore.position(db, of: id), let body = try LogStore.body(db, id: id) else { continue }
                found.append((position, body))
            }
            return found.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// The canonical bytes of what `author` signed as its entry `seq`: one
    /// entry, or more after an equivocation; none if the log lacks it.
    public func bodies(authoredBy author: NodeID, seq: UInt64) async throws -> [[UInt8]] {
        try await read { db in
            guard
                let index = try Int64.fetchOne(
                    db, sql: "SELECT idx FROM _p2pdb_authors WHERE node_id = ?", arguments: [author.raw.bytes.databaseBlob])
            else { return [] }
            return try LogStore.ids(db, author: index, seq: seq).compactMap { try LogStore.body(db, id: $0) }
        }
    }

    /// The log position before the first entry that `vector` does not
    /// cover: a pull reply starts scanning there rather than at the start.
    public func startPosition(notCoveredBy vector: VersionVector) async throws -> Int64 {
        try await read { db in
            var start: Int64?
            for row in try Row.fetchAll(db, sql: "SELECT idx, node_id, contiguous_seq FROM _p2pdb_authors") {
                guard let bytes = (row[1] as DatabaseValue).storage.blobBytes, let raw = Bytes32(bytes) else { continue }
                let have = vector[NodeID(raw)]
                let position = try Int64.fetchOne(
                    db, sql: "SELECT min(position) FROM _p2pdb_entries WHERE author = ? AND seq > ?",
                    arguments: [row[0] as Int64, Int64(clamping: have)])
                if let position { start = min(start ?? position, position) }
            }
            return (start ?? Int64.max) - 1
        }
    }

    /// Entries after `position`, in log order, that `vector` does not
    /// cover, up to `limit` entries or about `maximumBytes`.
    public func entries(notCoveredBy vector: VersionVector, after position: Int64, limit: Int, maximumBytes: Int) async throws -> EntryPage {
        try await read { db in
            var authors: [Int64: UInt64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT idx, node_id FROM _p2pdb_authors") {
                guard let bytes = (row[1] as DatabaseValue).storage.blobBytes, let raw = Bytes32(bytes) else { continue }
                authors[row[0]] = vector[NodeID(raw)]
            }
            var page = EntryPage(bodies: [], lastPosition: position, isLast: false)
            var bytes = 0
            let statement = try db.cachedStatement(
                sql: "SELECT position, author, seq, body FROM _p2pdb_entries WHERE position > ? ORDER BY position LIMIT 1024")
            while page.bodies.count < limit && bytes < maximumBytes {
                statement.setUncheckedArguments([page.lastPosition])
                let rows = try Row.fetchAll(statement)
                if rows.isEmpty {
                    page.isLast = true
                    break
                }
                for row in rows {
                    let author: Int64 = row[1]
                    let seq = UInt64(row[2] as Int64)
                    page.lastPosition = row[0]
                    if seq <= authors[author] ?? 0 { continue }
                    guard let body = (row[3] as DatabaseValue).storage.blobBytes else { continue }
                    page.bodies.append(body)
                    bytes += body.count
                    if page.bodies.count >= limit || bytes >= maximumBytes { break }
                }
            }
            if !page.isLast {
                page.isLast = try Int64.fetchOne(db, sql: "SELECT max(position) FROM _p2pdb_entries").map { $0 <= page.lastPosition } ?? true
            }
            return page
        }
    }

    /// Parents named by waiting entries that the replica holds nowhere:
    /// what to ask peers for.
    public func missingParents(limit: Int) async throws -> [EntryID] {
        try await read { db in
            var missing: [EntryID] = []
            var seen = Set<EntryID>()
            for body in try LogStore.pendingBodies(db) {
                guard let entry = try? Entry(bytes: body, verifySignature: false) else { continue }
                for parent in entry.parents where !seen.contains(parent) {
                    seen.insert(parent)
                    if try !LogStore.contains(db, id: parent), try !LogStore.isPending(db, id: parent) {
                        missing.append(parent)
                        if missing.count >= limit { return missing }
                    }
                }
            }
            return missing
        }
    }
}
