import P2PDBCore
import P2PDBStorage
import PropertyBased
import Testing

/// Replicas that make random concurrent transactions and exchange entries
/// in random orders, partially and with duplicates, must end identical.
@Suite("Convergence")
struct ConvergenceTests {
    @Test func randomConcurrentTransactionsConverge() async {
        await propertyCheck(count: 30, input: Gen.int(in: 0...Int(Int32.max))) { (seed: Int) in
            try await Self.run(seed: UInt64(seed), replicaCount: 3, steps: 50)
        }
    }

    @Test func fiveReplicasWithLongerHistories() async throws {
        for seed: UInt64 in [11, 12] {
            try await Self.run(seed: seed, replicaCount: 5, steps: 150)
        }
    }

    static func run(seed: UInt64, replicaCount: Int, steps: Int) async throws {
        var random = SeededGenerator(seed: seed)
        // Keys from the seed too: node IDs break ties, so a seed must fix them.
        let replicas = try (0..<replicaCount).map { _ in
            try TestReplica(key: NodeKey(seed: (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }))
        }
        try await replicas[0].sql("CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, price INTEGER, stock COUNTER INTEGER NOT NULL DEFAULT 0)")
        try await syncAll(replicas)
        for _ in 0..<steps {
            if Int.random(in: 0..<10, using: &random) < 3 {
                try await deliverSome(replicas, &random)
            } else {
                let replica = replicas.randomElement(using: &random)!
                let sql = randomTransaction(&random)
                _ = try? await replica.sql(sql.0, sql.1)
            }
        }
        try await syncAll(replicas)
        try await expectConverged(replicas)
    }

    /// Some of one replica's entries, shuffled, some twice, to another.
    static func deliverSome(_ replicas: [TestReplica], _ random: inout SeededGenerator) async throws {
        let source = replicas.randomElement(using: &random)!
        let target = replicas.randomElement(using: &random)!
        guard source !== target else { return }
        var batch = try await source.entries().filter { _ in Bool.random(using: &random) }
        batch += batch.filter { _ in Int.random(in: 0..<4, using: &random) == 0 }
        batch.shuffle(using: &random)
        _ = try await target.store.apply(batch)
    }

    static func randomTransaction(_ random: inout SeededGenerator) -> (String, [Value]) {
        let id = Value.text(["a", "b", "c", "d", "e"].randomElement(using: &random)!)
        let other = Value.text(["a", "b", "c", "d", "e"].randomElement(using: &random)!)
        let name = Value.text("n\(Int.random(in: 0..<100, using: &random))")
        let delta = Value.integer(Int64.random(in: -3...3, using: &random))
        let column = ["c1", "c2", "c3"].randomElement(using: &random)!
        switch Int.random(in: 0..<12, using: &random) {
        case 0, 1: return ("INSERT INTO items (id, name, price, stock) VALUES (?, ?, 10, 5)", [id, name])
        case 2: return ("INSERT INTO items (id, name) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name", [id, name])
        case 3: return ("UPDATE items SET name = ? WHERE id = ?", [name, id])
        case 4, 5: return ("UPDATE items SET stock = stock + ? WHERE id = ?", [delta, id])
        case 6: return ("DELETE FROM items WHERE id = ?", [id])
        case 7:
            return ("DELETE FROM items WHERE id = ?; INSERT INTO items (id, name) VALUES (?, ?); UPDATE items SET stock = stock + ? WHERE id = ?",
                    [id, other, name, delta, other])
        case 8:
            let type = ["TEXT DEFAULT 'x'", "INTEGER DEFAULT 7", "TEXT", "COUNTER INTEGER NOT NULL DEFAULT 0"].randomElement(using: &random)!
            return ("ALTER TABLE items ADD COLUMN \(column) \(type)", [])
        case 9: return ("UPDATE items SET \(column) = ? WHERE id = ?", [name, id])
        case 10:
            let definition = ["(k INTEGER PRIMARY KEY, v TEXT)", "(k INTEGER PRIMARY KEY, w REAL)", "(j TEXT PRIMARY KEY, v TEXT)"]
                .randomElement(using: &random)!
            return ("CREATE TABLE IF NOT EXISTS other \(definition)", [])
        default:
            return ("INSERT OR REPLACE INTO other (k, v) VALUES (?, ?)", [.integer(Int64.random(in: 1...3, using: &random)), name])
        }
    }
}
