import P2PDB

/// The checker's own model of what a replica must hold.
///
/// It starts from what clients did and were told (``ClientWrite``) and from
/// the shape of the replica's log (each entry's author, Lamport clock and
/// parents), never from the merge code it checks, and applies the rules of
/// the data model directly:
///
/// - A row's lifetimes are counted along causality: a write's author held
///   what the write's ancestors say; an insert of a row it held deleted (or
///   never saw) starts the next lifetime, a delete ends the current one, an
///   update stays in it. The highest lifetime is the row's; an even one
///   means deleted. So a delete beats the writes that did not see it, and
///   only a re-insert that saw a delete brings the row back.
/// - In that lifetime each last-writer-wins column holds the value of the
///   write with the highest (Lamport clock, author node ID) that wrote it,
///   or the column's default if none did; each counter holds the sum of the
///   lifetime's deltas.
/// - Tables, columns and indexes take their first definition (the smallest
///   stamp); a column's place follows its first definition; rows keyed by
///   another primary key than the winning definition's are dropped.
///
/// Writes whose outcome the client never heard are looked for in the log by
/// the token only they carry: one found counts as written, one not found as
/// never written. Any other entry in the log is a write no client made.
struct Oracle {
    /// (Lamport clock, author node ID), compared as the data model says.
    struct Order: Comparable {
        var lamport: UInt64
        var author: [UInt8]

        static func < (lhs: Order, rhs: Order) -> Bool {
            lhs.lamport != rhs.lamport ? lhs.lamport < rhs.lamport : lhs.author.lexicographicallyPrecedes(rhs.author)
        }
    }

    /// A set of log positions.
    struct Positions {
        private var words: [UInt64]

        init(count: Int) { words = Array(repeating: 0, count: (count + 63) / 64) }

        func contains(_ position: Int) -> Bool { words[position / 64] & (1 << UInt64(position % 64)) != 0 }
        mutating func insert(_ position: Int) { words[position / 64] |= 1 << UInt64(position % 64) }
        mutating func formUnion(_ other: Positions) { for index in words.indices { words[index] |= other.words[index] } }
    }

    /// The first definitions among a set of entries' schema changes.
    struct Schema {
        var addedColumns: [String: (order: Order, spec: ColumnSpec)] = [:]
        var notes: (order: Order, definition: NotesDefinition)?
        /// Every column any definition of `notes` declared, each with its
        /// first definition and where that puts it.
        var notesColumns: [String: (order: Order, position: Int, spec: ColumnSpec)] = [:]
        var indexes: [String: (order: Order, spec: IndexSpec)] = [:]

        mutating func add(_ change: SchemaWrite, at order: Order) {
            switch change {
            case .addColumn(_, let spec):
                if addedColumns[spec.name].map({ order < $0.order }) ?? true { addedColumns[spec.name] = (order, spec) }
            case .createTable(_, let definition):
                if notes.map({ order < $0.order }) ?? true { notes = (order, definition) }
                for (position, spec) in definition.columns.enumerated()
                where notesColumns[spec.name].map({ (order, position) < ($0.order, $0.position) }) ?? true {
                    notesColumns[spec.name] = (order, position, spec)
                }
            case .createIndex(let spec):
                if indexes[spec.name].map({ order < $0.order }) ?? true { indexes[spec.name] = (order, spec) }
            }
        }

        /// The columns of `tags`, in the order every replica must have.
        var tagColumns: [ColumnSpec] {
            WorkloadModel.tagColumns + addedColumns.values.sorted { $0.order < $1.order }.map(\.spec)
        }

        /// The columns of `notes` as the winning definition creates them: a
        /// STRICT table knows only its own types, so others become ANY.
        var notesColumnList: [ColumnSpec] {
            let strict = notes?.definition.strict ?? false
            return notesColumns.values.sorted { ($0.order, $0.position) < ($1.order, $1.position) }.map { entry in
                var spec = entry.spec
                if strict && !["INT", "INTEGER", "REAL", "TEXT", "BLOB", "ANY"].contains(spec.type.uppercased()) { spec.type = "ANY" }
                return spec
            }
        }

        func columns(of table: String) -> [ColumnSpec]? {
            switch table {
            case "tags": return tagColumns
            case "notes": return notes == nil ? nil : notesColumnList
            default: return nil
            }
        }
    }

    /// What a check found, and how much of the model it exercised.
    struct Findings {
        var violations: [String] = []
        /// Client writes found in the log, acknowledged or not.
        var writes = 0
        /// Unacknowledged writes found in the log.
        var unacknowledged = 0
        /// Inserts that brought a deleted row back.
        var reinserts = 0
        /// Writes to a row that a delete they had not seen removed.
        var beatenByDeletes = 0
    }

    let writes: [ClientWrite]
    /// Each simulated node's ID, by index.
    let authors: [NodeID]
    /// The entries made before the run (the shared tables).
    let setup: Set<EntryID>

    /// What `node` holds that breaks the model.
    func check(_ node: Node, index: Int) async throws -> Findings {
        var findings = Findings()
        var found: [String] = []
        let log = try await node.store.entries(after: 0, limit: .max).map(\.entry)
        let made = attribute(log, index: index, found: &found)
        for write in made.compactMap({ $0 }) {
            findings.writes += 1
            if case .unknown = writes[write].outcome { findings.unacknowledged += 1 }
        }

        // Log positions are a causal order, so parents come first.
        var position: [EntryID: Int] = [:]
        var ancestors: [Positions] = []
        for (at, entry) in log.enumerated() {
            var past = Positions(count: log.count)
            for parent in entry.parents {
                guard let earlier = position[parent] else {
                    found.append("node \(index): entry \(entry.id.short) comes before its parent \(parent.short) in the log")
                    continue
                }
                past.insert(earlier)
                past.formUnion(ancestors[earlier])
            }
            ancestors.append(past)
            position[entry.id] = at
        }
        let orders = log.map { Order(lamport: $0.lamport, author: $0.author.raw.bytes) }
        func schema(where include: (Int) -> Bool) -> Schema {
            var schema = Schema()
            for (at, write) in made.enumerated() where include(at) {
                if let change = write.flatMap({ writes[$0].schema }) { schema.add(change, at: orders[at]) }
            }
            return schema
        }
        let final = schema { _ in true }
        // What each write's author knew of the schema, when it is needed.
        func known(at position: Int) -> Schema { schema { ancestors[position].contains($0) } }

        var rows: [String: [(position: Int, row: RowWrite)]] = [:]
        var notesRows: [(position: Int, row: RowWrite)] = []
        var units: [String: Int64] = [:]
        for (at, write) in made.enumerated() {
            guard let write else { continue }
            for row in writes[write].rows {
                switch (row.table, row.key) {
                case ("stock", .text(let sku)): units[sku, default: 0] &+= row.deltas["units"] ?? 0
                case ("tags", .text(let id)): rows[id, default: []].append((at, row))
                case ("notes", _): notesRows.append((at, row))
                default: found.append("the workload wrote \(row.table) \(row.key), which the oracle does not model")
                }
            }
        }

        for sku in WorkloadModel.skus {
            let held = try await node.query("SELECT units FROM stock WHERE sku = ?", [.text(sku)]).rows
            let expected = units[sku] ?? 0
            if held != [[.integer(expected)]] {
                found.append("node \(index): stock \(sku) is \(held), the acknowledged deltas sum to \(expected)")
            }
        }
        found += try await checkColumns(of: "tags", expected: final.tagColumns, on: node, index: index)
        found += try await checkTags(
            rows, final: final, known: known, ancestors: ancestors, orders: orders, log: log, on: node, index: index,
            findings: &findings)
        found += try await checkNotes(notesRows, final: final, known: known, log: log, on: node, index: index)
        found += try await checkIndexes(final, on: node, index: index)
        findings.violations = found
        return findings
    }

    /// The client write that made each entry of the log.
    private func attribute(_ log: [Entry], index: Int, found: inout [String]) -> [Int?] {
        var acknowledged: [EntryID: Int] = [:]
        var tokens: [String: Int] = [:]
        for (number, write) in writes.enumerated() {
            switch write.outcome {
            case .acknowledged(let entry): acknowledged[entry] = number
            case .unknown: if let token = write.token { tokens[token] = number }
            }
        }
        return log.map { entry -> Int? in
            if setup.contains(entry.id) { return nil }
            // An admin's grant or revocation: no client write.
            if entry.payload.tableChanges.isEmpty && entry.payload.schemaChanges.isEmpty && !entry.payload.membership.isEmpty { return nil }
            if let write = acknowledged[entry.id] { return write }
            let carried = entry.payload.tableChanges.flatMap(\.rows).flatMap(\.values).compactMap { item -> Int? in
                if case .text(let text) = item.value { return tokens[text] }
                return nil
            }
            if let write = carried.first, authors[writes[write].node] == entry.author { return write }
            found.append("node \(index): entry \(entry.id.short) by \(entry.author.short) is no write a client made")
            return nil
        }
    }

    private func checkTags(
        _ rows: [String: [(position: Int, row: RowWrite)]], final: Schema, known: (Int) -> Schema, ancestors: [Positions],
        orders: [Order], log: [Entry], on node: Node, index: Int, findings: inout Findings
    ) async throws -> [String] {
        var found: [String] = []
        let result = try await node.query("SELECT * FROM tags")
        var held: [String: [String: Value]] = [:]
        for row in result.rows {
            guard case .text(let id)? = row.first else { continue }
            held[id] = Dictionary(zip(result.columns, row), uniquingKeysWith: { first, _ in first })
        }
        for (id, history) in rows.sorted(by: { $0.key < $1.key }) {
            // The lifetime each write belongs to, from what its author held.
            var lengths: [Int] = []
            var inserts: [Bool] = []
            for (number, write) in history.enumerated() {
                let before = (0..<number).filter { ancestors[write.position].contains(history[$0].position) }.map { lengths[$0] }.max() ?? 0
                let alive = before % 2 == 1
                var kind = write.row.kind
                if kind == .upsert { kind = alive ? .update : .insert }
                switch kind {
                case .insert where !alive: lengths.append(before + 1)
                case .update where alive: lengths.append(before)
                case .delete where alive: lengths.append(before + 1)
                default:
                    found.append(
                        "node \(index): entry \(log[write.position].id.short) made \(kind) of tags \(id), but its author held the row "
                            + (alive ? "alive" : "deleted") + " (lifetime \(before))")
                    lengths.append(before)
                }
                inserts.append(kind == .insert)
                if kind == .insert && before > 0 { findings.reinserts += 1 }
            }
            // A write that a delete of its lifetime did not follow lost to it.
            for (number, write) in history.enumerated() where lengths[number] % 2 == 1 {
                if history.indices.contains(where: {
                    lengths[$0] == lengths[number] + 1 && !ancestors[history[$0].position].contains(write.position)
                }) {
                    findings.beatenByDeletes += 1
                }
            }
            let lifetime = lengths.max() ?? 0
            guard lifetime % 2 == 1 else {
                if held[id] != nil { found.append("node \(index): tags \(id) is present, but it was deleted (lifetime \(lifetime))") }
                continue
            }
            guard let row = held[id] else {
                found.append("node \(index): tags \(id) is missing, but lifetime \(lifetime) holds it")
                continue
            }
            let life = history.indices.filter { lengths[$0] == lifetime }
            for column in final.tagColumns where column.name != "id" {
                let expected: Value
                if column.name == "hits" {
                    expected = .integer(life.reduce(0) { $0 &+ (history[$1].row.deltas["hits"] ?? 0) })
                } else {
                    // The write with the highest stamp among those that
                    // wrote the column in this lifetime; inserts wrote every
                    // column their author knew.
                    var winner: (order: Order, value: Value, position: Int)?
                    for number in life {
                        let write = history[number]
                        var value = write.row.values[column.name]
                        if value == nil, inserts[number], let spec = known(write.position).addedColumns[column.name]?.spec {
                            value = spec.stored(spec.defaultValue)
                        }
                        guard let value else { continue }
                        if winner.map({ $0.order < orders[write.position] }) ?? true { winner = (orders[write.position], value, write.position) }
                    }
                    expected = column.stored(winner?.value ?? column.defaultValue)
                    if row[column.name] != expected {
                        let source = winner.map { "written by entry \(log[$0.position].id.short)" } ?? "the default"
                        found.append(
                            "node \(index): tags \(id) \(column.name) is \(row[column.name].map { "\($0)" } ?? "missing"), "
                                + "expected \(expected) (\(source))")
                    }
                    continue
                }
                if row[column.name] != expected {
                    found.append("node \(index): tags \(id) \(column.name) is \(row[column.name].map { "\($0)" } ?? "missing"), expected \(expected)")
                }
            }
        }
        for id in held.keys.sorted() where rows[id] == nil { found.append("node \(index): tags \(id) is present, but no client wrote it") }
        return found
    }

    private func checkNotes(
        _ rows: [(position: Int, row: RowWrite)], final: Schema, known: (Int) -> Schema, log: [Entry], on node: Node, index: Int
    ) async throws -> [String] {
        guard let winner = final.notes?.definition else {
            return rows.isEmpty ? [] : ["node \(index): \(rows.count) rows of notes were written, but no CREATE TABLE notes"]
        }
        var found = try await checkColumns(of: "notes", expected: final.notesColumnList, on: node, index: index)
        let key = winner.primaryKey
        let columns = final.notesColumnList
        let keySpec = columns.first { $0.name == key } ?? ColumnSpec(name: key, type: "")
        let bodySpec = columns.first { $0.name == "body" } ?? ColumnSpec(name: "body", type: "")
        var expected: [Value: Value] = [:]
        for (position, row) in rows {
            guard let definition = known(position).notes?.definition else {
                found.append("node \(index): entry \(log[position].id.short) wrote notes before its author knew the table")
                continue
            }
            // A row keyed as a losing definition keys it is dropped.
            guard definition.primaryKey == key else { continue }
            guard let value = row.values[key] else {
                found.append("node \(index): entry \(log[position].id.short) wrote notes without its key \(key)")
                continue
            }
            expected[keySpec.stored(value)] = bodySpec.storable(row.values["body"] ?? .null, strict: winner.strict)
        }
        var held: [Value: Value] = [:]
        for row in try await node.query("SELECT \(key), body FROM notes").rows where row.count == 2 { held[row[0]] = row[1] }
        if held != expected {
            let missing = expected.filter { held[$0.key] != $0.value }.map { "\($0.key)" }.sorted()
            let extra = held.filter { expected[$0.key] != $0.value }.map { "\($0.key)" }.sorted()
            found.append(
                "node \(index): notes keyed by \(key) differ from the model: missing or wrong \(missing), unexpected or wrong \(extra)")
        }
        return found
    }

    private func checkColumns(of table: String, expected: [ColumnSpec], on node: Node, index: Int) async throws -> [String] {
        let held = try await node.query("SELECT name, type FROM pragma_table_info(?) ORDER BY cid", [.text(table)]).rows
        let wanted = expected.map { [Value.text($0.name), .text($0.type)] }
        guard held != wanted else { return [] }
        return ["node \(index): \(table) has columns \(held.map { $0.map { "\($0)" }.joined(separator: " ") }), expected \(expected.map { "\($0.name) \($0.type)" })"]
    }

    private func checkIndexes(_ final: Schema, on node: Node, index: Int) async throws -> [String] {
        var expected: [String: [Value]] = [:]
        for (name, definition) in final.indexes {
            // An index whose table or columns do not exist is not built.
            guard let columns = final.columns(of: definition.spec.table),
                definition.spec.columns.allSatisfy({ column in columns.contains { $0.name == column.name } })
            else { continue }
            expected[name] = definition.spec.columns.flatMap { [Value.text($0.name), .integer($0.descending ? 1 : 0)] }
        }
        var held: [String: [Value]] = [:]
        let names = try await node.query(
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name IN ('tags', 'notes') AND sql IS NOT NULL")
        for row in names.rows {
            guard case .text(let name)? = row.first else { continue }
            held[name] = try await node.query(
                "SELECT name, \"desc\" FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno", [.text(name)]
            ).rows.flatMap { $0 }
        }
        guard held != expected else { return [] }
        return ["node \(index): indexes \(held.sorted { $0.key < $1.key }), expected \(expected.sorted { $0.key < $1.key })"]
    }
}
