import Foundation
import GRDB
import P2PDB

/// The benchmarks of `p2pdb bench`.
///
/// Every figure is measured in the same process run as its plain-SQLite
/// counterpart, with the same durability, so that their ratio holds on a
/// shared, noisy machine even when absolute figures drift.
public struct Benchmarks: Sendable {
    public var scale: Double
    public var durability: Durability

    /// - Parameter scale: 1 for the documented run; smaller for a quick look.
    public init(scale: Double = 1, durability: Durability = .full) {
        self.scale = scale
        self.durability = durability
    }

    private func count(_ base: Int) -> Int { max(1, Int(Double(base) * scale)) }

    /// The benchmarks by the name `--only` takes.
    public var all: [(name: String, run: @Sendable () async throws -> BenchmarkResult)] {
        [
            ("sequential", singleRowSequential), ("concurrent", singleRowConcurrent), ("batched", batchedInserts),
            ("select", pointSelects), ("apply", applyFromReplica),
        ]
    }

    public func runAll(only: Set<String> = [], progress: (String) -> Void) async throws -> [BenchmarkResult] {
        var results: [BenchmarkResult] = []
        let replication = SyncBenchmarks(scale: scale, durability: durability).all
        for benchmark in all + replication where only.isEmpty || only.contains(benchmark.name) {
            let result = try await benchmark.run()
            progress(Self.line(result))
            results.append(result)
        }
        return results
    }

    static func line(_ result: BenchmarkResult) -> String {
        let sqlite = result.sqlite.map { String(format: "%.0f", $0) } ?? "-"
        let ratio = result.ratio.map { String(format: "%.2f", $0) } ?? "-"
        return String(format: "%@: p2pdb %.0f %@, sqlite %@, ratio %@", result.name, result.p2pdb, result.unit, sqlite, ratio)
    }

    private func node(_ scratch: Scratch, _ name: String) throws -> ReplicaStore {
        try ReplicaStore(path: scratch.path(name), key: NodeKey(), options: StoreOptions(durability: durability))
    }

    /// Single-row INSERT transactions, each durable (and, for P2PDB,
    /// signed), one at a time.
    public func singleRowSequential() async throws -> BenchmarkResult {
        let scratch = try Scratch()
        let transactions = count(2000)
        let store = try node(scratch, "p2pdb.sqlite")
        _ = try await store.execute([SQLRequest(benchmarkSchema)])
        let plain = try plainSQLite(scratch.path("plain.sqlite"), durability: durability)
        try await plain.write { try $0.execute(sql: plainSchema) }
        let rounds = try await alternating(rounds: 5, items: transactions) { range in
            for id in range { _ = try await store.execute([SQLRequest(insertSQL, insertArguments(id))]) }
        } plain: { range in
            // GRDB's synchronous write: plain SQLite's fastest path, with
            // no switch to the writer queue and back.
            for id in range {
                try plain.write { db in
                    try db.cachedStatement(sql: insertSQL).execute(arguments: StatementArguments(insertArguments(id).map(\.grdb)))
                }
            }
        }
        try await store.close()
        return BenchmarkResult(
            name: "single-row INSERT transactions, one at a time", unit: "tx/s",
            p2pdb: Double(transactions) / rounds.p2pdb, sqlite: Double(transactions) / rounds.plain,
            target: ">= 0.8 x SQLite",
            note: "\(transactions) transactions, synchronous=\(durability.rawValue.uppercased()); \(rounds.description)")
    }

    /// The same with 32 concurrent writers: P2PDB commits them in groups
    /// sharing one fsync; plain SQLite serialises them, one fsync each.
    public func singleRowConcurrent() async throws -> BenchmarkResult {
        let scratch = try Scratch()
        let writers = 32
        let perWriter = count(250)
        let store = try node(scratch, "p2pdb.sqlite")
        _ = try await store.execute([SQLRequest(benchmarkSchema)])
        let p2pdbTime = try await seconds {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        for index in 0..<perWriter {
                            _ = try await store.execute([SQLRequest(insertSQL, insertArguments(writer * perWriter + index))])
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        try await store.close()
        let plain = try plainSQLite(scratch.path("plain.sqlite"), durability: durability)
        try await plain.write { try $0.execute(sql: plainSchema) }
        let plainTime = try await seconds {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        for index in 0..<perWriter {
                            let arguments = StatementArguments(insertArguments(writer * perWriter + index).map(\.grdb))
                            try await plain.write { try $0.cachedStatement(sql: insertSQL).execute(arguments: arguments) }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        let total = Double(writers * perWriter)
        return BenchmarkResult(
            name: "single-row INSERT transactions, 32 concurrent writers", unit: "tx/s",
            p2pdb: total / p2pdbTime, sqlite: total / plainTime, target: ">= 5,000 tx/s",
            note: "\(writers * perWriter) transactions; P2PDB group commit, SQLite one fsync per transaction")
    }

    /// Rows inserted in transactions of 1,000 rows.
    public func batchedInserts() async throws -> BenchmarkResult {
        let scratch = try Scratch()
        let batches = count(100)
        let rows = 1000
        let store = try node(scratch, "p2pdb.sqlite")
        _ = try await store.execute([SQLRequest(benchmarkSchema)])
        let plain = try plainSQLite(scratch.path("plain.sqlite"), durability: durability)
        try await plain.write { try $0.execute(sql: plainSchema) }
        let rounds = try await alternating(rounds: 5, items: batches) { range in
            for batch in range {
                _ = try await store.execute((0..<rows).map { SQLRequest(insertSQL, insertArguments(batch * rows + $0)) })
            }
        } plain: { range in
            for batch in range {
                try plain.write { db in
                    let statement = try db.cachedStatement(sql: insertSQL)
                    for index in 0..<rows {
                        try statement.execute(arguments: StatementArguments(insertArguments(batch * rows + index).map(\.grdb)))
                    }
                }
            }
        }
        try await store.close()
        let total = Double(batches * rows)
        return BenchmarkResult(
            name: "rows inserted in transactions of 1,000 rows", unit: "rows/s",
            p2pdb: total / rounds.p2pdb, sqlite: total / rounds.plain, target: ">= 100,000 rows/s; overhead <= 2.5x (aim 2x)",
            note: "\(batches) transactions of \(rows) INSERT statements; \(rounds.description)")
    }

    /// Point SELECT by primary key through the embedded API.
    public func pointSelects() async throws -> BenchmarkResult {
        let scratch = try Scratch()
        let rows = 10_000
        let queries = count(200_000)
        let store = try node(scratch, "p2pdb.sqlite")
        _ = try await store.execute([SQLRequest(benchmarkSchema)])
        _ = try await store.execute((0..<rows).map { SQLRequest(insertSQL, insertArguments($0)) })
        let select = "SELECT id, name, price, stock FROM items WHERE id = ?"
        let p2pdbTime = try await seconds {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for reader in 0..<2 {
                    group.addTask {
                        for index in stride(from: reader, to: queries, by: 2) {
                            _ = try store.querySync(SQLRequest(select, [.integer(Int64(index * 7919 % rows))]))
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        let sessionTime = try await seconds {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for reader in 0..<2 {
                    group.addTask {
                        try store.reading { session in
                            for index in stride(from: reader, to: queries, by: 2) {
                                _ = try session.query(SQLRequest(select, [.integer(Int64(index * 7919 % rows))]))
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        try await store.close()
        let plain = try plainSQLite(scratch.path("plain.sqlite"), durability: durability)
        try await plain.write { db in
            try db.execute(sql: plainSchema)
            for id in 0..<rows { try db.cachedStatement(sql: insertSQL).execute(arguments: StatementArguments(insertArguments(id).map(\.grdb))) }
        }
        let plainTime = try await seconds {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for reader in 0..<2 {
                    group.addTask {
                        for index in stride(from: reader, to: queries, by: 2) {
                            // SQLite's fastest path too: a cached statement,
                            // no explicit transaction.
                            _ = try plain.unsafeRead { db in
                                try Row.fetchOne(db.cachedStatement(sql: select), arguments: [index * 7919 % rows])
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        let plainSessionTime = try await seconds {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for reader in 0..<2 {
                    group.addTask {
                        try plain.unsafeRead { db in
                            for index in stride(from: reader, to: queries, by: 2) {
                                _ = try Row.fetchOne(db.cachedStatement(sql: select), arguments: [index * 7919 % rows])
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        return BenchmarkResult(
            name: "point SELECT by primary key, one call per query", unit: "queries/s",
            p2pdb: Double(queries) / p2pdbTime, sqlite: Double(queries) / plainTime, target: ">= 100,000 queries/s",
            note: "\(queries) queries from 2 threads; both sides reuse a prepared statement without an explicit transaction; "
                + "in one read session per thread (ReplicaStore.reading): P2PDB \(Int(Double(queries) / sessionTime)) queries/s, "
                + "SQLite \(Int(Double(queries) / plainSessionTime)) queries/s, ratio \(String(format: "%.2f", plainSessionTime / sessionTime))")
    }

    /// Rows applied from another replica's entries of 100 rows each,
    /// signature verification included.
    public func applyFromReplica() async throws -> BenchmarkResult {
        let scratch = try Scratch()
        let entries = count(500)
        let rowsPerEntry = 100
        let source = try node(scratch, "source.sqlite")
        _ = try await source.execute([SQLRequest(benchmarkSchema)])
        for batch in 0..<entries {
            _ = try await source.execute((0..<rowsPerEntry).map { SQLRequest(insertSQL, insertArguments(batch * rowsPerEntry + $0)) })
        }
        let bodies = try await source.entries(after: 0, limit: .max).map(\.entry.bytes)
        try await source.close()
        let target = try node(scratch, "target.sqlite")
        let p2pdbTime = try await seconds {
            for chunk in stride(from: 0, to: bodies.count, by: 100) {
                let verified = try EntryVerifier.verify(Array(bodies[chunk..<min(chunk + 100, bodies.count)]))
                _ = try await target.apply(verified)
            }
        }
        try await target.close()
        let plain = try plainSQLite(scratch.path("plain.sqlite"), durability: durability)
        try await plain.write { try $0.execute(sql: plainSchema) }
        let plainTime = try await seconds {
            for batch in stride(from: 0, to: entries, by: 100) {
                try plain.write { db in
                    let statement = try db.cachedStatement(sql: insertSQL)
                    for id in (batch * rowsPerEntry)..<(min(batch + 100, entries) * rowsPerEntry) {
                        try statement.execute(arguments: StatementArguments(insertArguments(id).map(\.grdb)))
                    }
                }
            }
        }
        let total = Double(entries * rowsPerEntry)
        return BenchmarkResult(
            name: "rows applied from another replica's entries", unit: "rows/s",
            p2pdb: total / p2pdbTime, sqlite: total / plainTime, target: ">= 50,000 rows/s",
            note: "\(entries) entries of \(rowsPerEntry) rows, applied 100 entries per transaction; SQLite inserts the same rows")
    }
}

extension P2PDBCore.Value {
    var grdb: (any DatabaseValueConvertible)? {
        switch self {
        case .null: return nil
        case .integer(let value): return value
        case .real(let value): return value
        case .text(let value): return value
        case .blob(let bytes): return Data(bytes)
        }
    }
}
