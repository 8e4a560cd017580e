import GRDB
import P2PDBCore

/// The merge state of one row: its causal length and the stamp of the
/// write that last won each last-writer-wins column.
///
/// Most rows are written whole (an insert), so one base stamp covers every
/// column; only columns later written at a different stamp are listed in
/// `overrides`, keyed by physical column index. Authors are local author
/// numbers (see ``AuthorTable``).
struct RowMetadata: Equatable {
    struct LocalStamp: Equatable {
        var lamport: UInt64
        var author: Int64
    }

    var causalLength: UInt64
    var base: LocalStamp
    var overrides: [Int: LocalStamp]

    var isAlive: Bool { causalLength % 2 == 1 }

    func stamp(ofColumn column: Int) -> LocalStamp { overrides[column] ?? base }

    /// Records that `columns` were written at `stamp`, folding the overrides
    /// back into the base when every register column shares one stamp.
    mutating func record(_ newStamp: LocalStamp, columns: [Int], registerColumns: [Int]) {
        for column in columns { overrides[column] = newStamp }
        if let first = registerColumns.first {
            let candidate = stamp(ofColumn: first)
            if registerColumns.allSatisfy({ self.stamp(ofColumn: $0) == candidate }) {
                base = candidate
                overrides = [:]
            }
        } else {
            base = newStamp
            overrides = [:]
        }
    }

    var encodedOverrides: [UInt8]? {
        guard !overrides.isEmpty else { return nil }
        var writer = ByteWriter(capacity: overrides.count * 8)
        writer.writeVarint(overrides.count)
        for (column, stamp) in overrides.sorted(by: { $0.key < $1.key }) {
            writer.writeVarint(column)
            writer.writeVarint(stamp.lamport)
            writer.writeVarint(UInt64(stamp.author))
        }
        return writer.bytes
    }

    static func decodeOverrides(_ bytes: [UInt8]?) throws -> [Int: LocalStamp] {
        guard let bytes else { return [:] }
        var reader = ByteReader(bytes)
        var result: [Int: LocalStamp] = [:]
        for _ in 0..<(try reader.readCount(minimumItemSize: 3)) {
            let column = Int(try reader.readVarint())
            let lamport = try reader.readVarint()
            let author = Int64(try reader.readVarint())
            result[column] = LocalStamp(lamport: lamport, author: author)
        }
        return result
    }
}

/// Reads and writes `_p2pdb_rows`.
enum RowMetadataStore {
    static func load(_ db: Database, tid: Int64, key: [UInt8]) throws -> RowMetadata? {
        let statement = try db.cachedStatement(
            sql: "SELECT cl, lamport, author, clocks FROM _p2pdb_rows WHERE tid = ? AND pk = ?")
        guard let row = try statement.firstRowRaw([.integer(tid), .blob(key)]),
            case .integer(let causalLength) = row[0], case .integer(let lamport) = row[1], case .integer(let author) = row[2]
        else { return nil }
        var clocks: [UInt8]?
        if case .blob(let bytes) = row[3] { clocks = bytes }
        return RowMetadata(
            causalLength: UInt64(causalLength), base: RowMetadata.LocalStamp(lamport: UInt64(lamport), author: author),
            overrides: try RowMetadata.decodeOverrides(clocks))
    }

    static func save(_ db: Database, tid: Int64, key: [UInt8], _ metadata: RowMetadata) throws {
        let statement = try db.cachedStatement(
            sql: "INSERT OR REPLACE INTO _p2pdb_rows(tid, pk, cl, lamport, author, clocks) VALUES (?, ?, ?, ?, ?, ?)")
        try statement.runRaw([
            .integer(tid), .blob(key), .integer(Int64(metadata.causalLength)), .integer(Int64(metadata.base.lamport)),
            .integer(metadata.base.author), metadata.encodedOverrides.map(Value.blob) ?? .null,
        ])
    }

    /// Records a local insert. A row that never existed, the usual case,
    /// costs one plain insert; a re-inserted row (its tombstone is there)
    /// moves to the next odd causal length.
    ///
    /// No upsert with RETURNING: SQLite opens a temporary table for each
    /// execution of one, which costs more than the insert itself.
    static func recordInsert(_ db: Database, tid: Int64, key: [UInt8], stamp: RowMetadata.LocalStamp) throws -> UInt64 {
        let insert = try db.cachedStatement(
            sql: "INSERT OR IGNORE INTO _p2pdb_rows(tid, pk, cl, lamport, author, clocks) VALUES (?, ?, 1, ?, ?, NULL)")
        try insert.runRaw([.integer(tid), .blob(key), .integer(Int64(stamp.lamport)), .integer(stamp.author)])
        if db.changesCount == 1 { return 1 }
        let previous = try load(db, tid: tid, key: key)?.causalLength ?? 0
        let causalLength = previous + 1 + previous % 2
        try save(db, tid: tid, key: key, RowMetadata(causalLength: causalLength, base: stamp, overrides: [:]))
        return causalLength
    }
}

extension Array where Element == UInt8 {
    var databaseBlob: DatabaseValue { Data(self).databaseValue }
}

extension DatabaseValue.Storage {
    var blobBytes: [UInt8]? {
        if case .blob(let data) = self { return Array(data) }
        return nil
    }
}

import Foundation
