import P2PDB
import P2PDBSync

/// The client workload of a simulation and what it expects to find after.
///
/// - `stock`: counter rows made before the run; clients only add deltas,
///   so each must end as the sum of the acknowledged deltas.
/// - `tags`: rows inserted with fresh keys, updated, deleted; a deleted key
///   is never inserted again, so it must stay deleted on every node, and a
///   key inserted and never deleted must exist on every node.
/// - schema changes: concurrent, sometimes conflicting, ALTER TABLE ADD
///   COLUMN on `tags`, and writes to those columns.
struct WorkloadModel {
    static let skus = ["apple", "pear", "plum"]
    static let schema = """
        CREATE TABLE stock (sku TEXT PRIMARY KEY, units COUNTER INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE tags (id TEXT PRIMARY KEY, label TEXT, weight INTEGER);
        INSERT INTO stock (sku) VALUES ('apple'), ('pear'), ('plum');
        """

    private(set) var acknowledgedEntries: [EntryID] = []
    private var deltas: [String: Int64] = [:]
    private var inserted: [String] = []
    private var deleted = Set<String>()
    private var nextTag = 0

    /// Runs one random transaction; true if it was acknowledged with an entry.
    mutating func transact(on node: Node, random: SeededRandomSource) async throws -> Bool {
        let pick = random.next() % 100
        let sku = Self.skus[Int(random.next() % UInt64(Self.skus.count))]
        let delta = Int64(random.next() % 7) - 3
        let known = inserted.isEmpty ? nil : inserted[Int(random.next() % UInt64(inserted.count))]
        let label = "l\(random.next() % 1000)"
        do {
            switch pick {
            case 0..<30:
                let result = try await node.execute("UPDATE stock SET units = units + ? WHERE sku = ?", [.integer(delta), .text(sku)])
                guard let entry = result.entry, result.changes == 1 else { return false }
                deltas[sku, default: 0] += delta
                return acknowledge(entry)
            case 30..<55:
                nextTag += 1
                let id = "t\(nextTag)"
                let result = try await node.transaction([
                    SQLRequest("INSERT INTO tags (id, label, weight) VALUES (?, ?, ?)", [.text(id), .text(label), .integer(delta)]),
                    SQLRequest("UPDATE stock SET units = units + ? WHERE sku = ?", [.integer(delta), .text(sku)]),
                ])
                guard let entry = result.entry else { return false }
                inserted.append(id)
                if result.changes == 2 { deltas[sku, default: 0] += delta }
                return acknowledge(entry)
            case 55..<75:
                guard let known else { return false }
                let result = try await node.execute("UPDATE tags SET label = ?, weight = weight + 1 WHERE id = ?", [.text(label), .text(known)])
                guard let entry = result.entry else { return false }
                return acknowledge(entry)
            case 75..<88:
                guard let known else { return false }
                let result = try await node.execute("DELETE FROM tags WHERE id = ?", [.text(known)])
                guard let entry = result.entry, result.changes == 1 else { return false }
                deleted.insert(known)
                return acknowledge(entry)
            case 88..<94:
                let column = "c\(random.next() % 3)"
                let type = ["TEXT DEFAULT 'x'", "INTEGER DEFAULT 7", "TEXT"][Int(random.next() % 3)]
                let result = try await node.execute("ALTER TABLE tags ADD COLUMN \(column) \(type)")
                guard let entry = result.entry else { return false }
                return acknowledge(entry)
            default:
                guard let known else { return false }
                let column = "c\(random.next() % 3)"
                let result = try await node.execute("UPDATE tags SET \(column) = ? WHERE id = ?", [.text(label), .text(known)])
                guard let entry = result.entry else { return false }
                return acknowledge(entry)
            }
        } catch let error as P2PDBError where error.kind == .invalidSQL || error.kind == .refused || error.kind == .constraint {
            // A column this node does not know yet, a schema change that
            // conflicts with one from a peer: refused, nothing written.
            return false
        }
    }

    private mutating func acknowledge(_ entry: EntryID) -> Bool {
        acknowledgedEntries.append(entry)
        return true
    }

    /// What the node holds that breaks the model.
    func violations(on node: Node, index: Int) async throws -> [String] {
        var found: [String] = []
        for sku in Self.skus {
            let rows = try await node.query("SELECT units FROM stock WHERE sku = ?", [.text(sku)]).rows
            let expected = deltas[sku] ?? 0
            if rows != [[.integer(expected)]] {
                found.append("node \(index): stock \(sku) is \(rows), the acknowledged deltas sum to \(expected)")
            }
        }
        let present = Set(
            try await node.query("SELECT id FROM tags").rows.compactMap { row -> String? in
                if case .text(let id)? = row.first { return id }
                return nil
            })
        for id in deleted where present.contains(id) { found.append("node \(index): deleted row \(id) is back") }
        for id in inserted where !deleted.contains(id) && !present.contains(id) {
            found.append("node \(index): acknowledged row \(id) is missing")
        }
        return found
    }
}
