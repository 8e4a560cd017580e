import Foundation
import GRDB
import P2PDB

/// One measured figure: P2PDB beside plain SQLite doing the same work with
/// the same durability.
public struct BenchmarkResult: Sendable {
    public var name: String
    public var unit: String
    public var p2pdb: Double
    /// Nil where plain SQLite has no equivalent.
    public var sqlite: Double?
    public var target: String
    public var note: String

    public var ratio: Double? { sqlite.map { p2pdb / $0 } }
}

/// A scratch directory for one benchmark run.
final class Scratch {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("p2pdb-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Plain SQLite through GRDB, set up as P2PDB sets up its own file: WAL and
/// the same `synchronous` setting.
func plainSQLite(_ path: String, durability: Durability) throws -> DatabasePool {
    let pool = try DatabasePool(path: path)
    try pool.writeWithoutTransaction { db in
        try db.execute(sql: "PRAGMA synchronous = \(durability.rawValue.uppercased())")
    }
    return pool
}

/// The time each side took over rounds that alternate between them, so
/// that a machine that slows down or speeds up midway weighs on both alike.
struct AlternatingRounds {
    var p2pdb = 0.0
    var plain = 0.0
    /// Plain SQLite's time over P2PDB's, per round.
    var ratios: [Double] = []
    /// Each round's times, P2PDB's then plain SQLite's, in milliseconds.
    var times: [(p2pdb: Double, plain: Double)] = []

    var description: String {
        "alternating rounds, per-round ratios " + ratios.map { String(format: "%.2f", $0) }.joined(separator: " ")
            + " (ms, P2PDB/SQLite: " + times.map { String(format: "%.0f/%.0f", $0.p2pdb, $0.plain) }.joined(separator: " ") + ")"
    }
}

/// Splits `items` into `rounds` ranges and runs each range on P2PDB, then
/// the same range on plain SQLite.
func alternating(
    rounds: Int, items: Int, p2pdb: (Range<Int>) async throws -> Void, plain: (Range<Int>) async throws -> Void
) async throws -> AlternatingRounds {
    var result = AlternatingRounds()
    let size = max(1, (items + rounds - 1) / rounds)
    for start in stride(from: 0, to: items, by: size) {
        let range = start..<min(items, start + size)
        let p2pdbTime = try await seconds { try await p2pdb(range) }
        let plainTime = try await seconds { try await plain(range) }
        result.p2pdb += p2pdbTime
        result.plain += plainTime
        result.ratios.append(plainTime / p2pdbTime)
        result.times.append((p2pdbTime * 1000, plainTime * 1000))
    }
    return result
}

func seconds(_ body: () async throws -> Void) async rethrows -> Double {
    let start = ContinuousClock.now
    try await body()
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

let benchmarkSchema = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price INTEGER, stock COUNTER INTEGER NOT NULL DEFAULT 0)"
let plainSchema = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price INTEGER, stock INTEGER NOT NULL DEFAULT 0)"
let insertSQL = "INSERT INTO items (id, name, price, stock) VALUES (?, ?, ?, ?)"

func insertArguments(_ id: Int) -> [P2PDBCore.Value] {
    [.integer(Int64(id)), .text("item \(id)"), .integer(Int64(id % 1000)), .integer(10)]
}
