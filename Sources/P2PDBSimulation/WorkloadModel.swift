import P2PDB
import P2PDBSync

/// The client workload of a simulation, and the record of what each client
/// asked for and was told, from which ``Oracle`` derives what every replica
/// must hold.
///
/// - `stock`: counter rows made before the run; clients only add deltas.
/// - `tags`: a last-writer-wins row per key, with a counter and a REAL
///   price written as whole numbers (as integers and as reals): inserts of
///   fresh keys, re-inserts of deleted keys (at a node that has seen the
///   delete the row comes back; at one that has not, the insert is refused
///   or, as an upsert, becomes an update that the delete beats), updates,
///   deletes; concurrent, sometimes conflicting, ALTER TABLE ADD COLUMN and
///   writes to those columns.
/// - `notes`: created during the run, concurrently at several nodes with
///   compatible definitions (the same key, other columns) and conflicting
///   ones (another type for a column, another primary key, a REAL or
///   typeless key, NOT NULL, STRICT); inserts only, each with keys of its
///   own, some with no body.
/// - indexes created during the run, some under one name with two
///   definitions.
///
/// Every value a client writes to a last-writer-wins column is unique to
/// that write (a token), so each update really changes what it sets and the
/// oracle can tell which write a stored value came from.
struct WorkloadModel {
    static let skus = ["apple", "pear", "plum"]
    static let schema = """
        CREATE TABLE stock (sku TEXT PRIMARY KEY, units COUNTER INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE tags (id TEXT PRIMARY KEY, label TEXT, weight INTEGER, hits COUNTER INTEGER NOT NULL DEFAULT 0, price REAL);
        INSERT INTO stock (sku) VALUES ('apple'), ('pear'), ('plum');
        """
    /// The columns of `tags` made before the run, in order.
    static let tagColumns = [
        ColumnSpec(name: "id", type: "TEXT"), ColumnSpec(name: "label", type: "TEXT"),
        ColumnSpec(name: "weight", type: "INTEGER"), ColumnSpec(name: "hits", type: "COUNTER INTEGER", defaultValue: .integer(0)),
        ColumnSpec(name: "price", type: "REAL"),
    ]
    /// Definitions that concurrent ALTER TABLE tags ADD COLUMN may give.
    static let addedColumnTypes: [(type: String, defaultValue: Value)] = [("TEXT", .text("x")), ("INTEGER", .integer(7)), ("TEXT", .null)]
    /// Definitions that concurrent CREATE TABLE notes may give: two alike
    /// but for a column, one with another type for `body`, one keyed by
    /// another column.
    static let notesDefinitions: [NotesDefinition] = [
        NotesDefinition(primaryKey: "id", columns: [ColumnSpec(name: "id", type: "TEXT"), ColumnSpec(name: "body", type: "TEXT")]),
        NotesDefinition(
            primaryKey: "id",
            columns: [ColumnSpec(name: "id", type: "TEXT"), ColumnSpec(name: "body", type: "TEXT"), ColumnSpec(name: "size", type: "INTEGER")]),
        NotesDefinition(primaryKey: "id", columns: [ColumnSpec(name: "id", type: "TEXT"), ColumnSpec(name: "body", type: "INTEGER")]),
        NotesDefinition(primaryKey: "n", columns: [ColumnSpec(name: "n", type: "INTEGER"), ColumnSpec(name: "body", type: "TEXT")]),
        NotesDefinition(primaryKey: "n", columns: [ColumnSpec(name: "n", type: ""), ColumnSpec(name: "body", type: "TEXT")]),
        NotesDefinition(primaryKey: "r", columns: [ColumnSpec(name: "r", type: "REAL"), ColumnSpec(name: "body", type: "TEXT")]),
        NotesDefinition(primaryKey: "id", columns: [ColumnSpec(name: "id", type: "TEXT"), ColumnSpec(name: "body", type: "TEXT", notNull: true)]),
        NotesDefinition(
            primaryKey: "id", columns: [ColumnSpec(name: "id", type: "TEXT"), ColumnSpec(name: "body", type: "INTEGER")], strict: true),
    ]
    static let indexDefinitions: [IndexSpec] = [
        IndexSpec(name: "tags_by_label", table: "tags", columns: [IndexSpec.Column(name: "label", descending: false)]),
        IndexSpec(name: "tags_by_label", table: "tags", columns: [IndexSpec.Column(name: "weight", descending: true)]),
        IndexSpec(name: "tags_by_c1", table: "tags", columns: [IndexSpec.Column(name: "c1", descending: false)]),
        IndexSpec(name: "notes_by_body", table: "notes", columns: [IndexSpec.Column(name: "body", descending: false)]),
        IndexSpec(name: "notes_by_size", table: "notes", columns: [IndexSpec.Column(name: "size", descending: false)]),
    ]

    /// What happened to a client request that wrote something.
    enum Outcome {
        case acknowledged(EntryID)
        /// The node crashed before the client heard back: the write may or
        /// may not have been committed.
        case unknown
    }

    /// When a simulated crash cuts a client request.
    enum Interruption {
        /// The node went down before it ran the request.
        case beforeCommit
        /// The node committed the request and went down before answering.
        case afterCommit
    }

    var writes: [ClientWrite] = []
    private var keys: [String] = []
    private var deletedKeys: [String] = []
    private var nextKey = 0
    private var nextToken = 0

    var acknowledgedEntries: [EntryID] {
        writes.compactMap { write in
            if case .acknowledged(let entry) = write.outcome { return entry }
            return nil
        }
    }

    /// A value no other write carries, as text and as a number.
    private mutating func token() -> (text: String, number: Int64) {
        nextToken += 1
        return ("v\(nextToken)", Int64(nextToken))
    }

    /// Runs one random transaction at `node`. Returns whether it was
    /// acknowledged with an entry, and whether `interruption` applied (only
    /// requests whose effect the oracle can find in the log by their token
    /// can be cut; the others run as usual).
    mutating func transact(
        on node: Node, index: Int, random: SeededRandomSource, interruption: Interruption?
    ) async throws -> (acknowledged: Bool, interrupted: Bool) {
        let pick = random.next() % 100
        let sku = Self.skus[Int(random.next() % UInt64(Self.skus.count))]
        let delta = Int64(random.next() % 7) - 3
        let known = keys.isEmpty ? nil : keys[Int(random.next() % UInt64(keys.count))]
        let deleted = deletedKeys.isEmpty ? nil : deletedKeys[Int(random.next() % UInt64(deletedKeys.count))]
        let choice = Int(random.next() % 1_000)
        var write = ClientWrite(node: index, outcome: .unknown)
        var requests: [SQLRequest] = []
        switch pick {
        case 0..<22:
            write.rows = [RowWrite(table: "stock", key: .text(sku), kind: .update, deltas: ["units": delta])]
            requests = [SQLRequest("UPDATE stock SET units = units + ? WHERE sku = ?", [.integer(delta), .text(sku)])]
        case 22..<38:
            // A fresh key, or a re-insert of a key that some node deleted.
            let id: String
            if let deleted, choice % 5 < 2 {
                id = deleted
            } else {
                nextKey += 1
                id = "t\(nextKey)"
            }
            let (label, weight) = token()
            // A whole-number price, sent as an integer or as a real.
            let price: Value = choice % 2 == 0 ? .integer(weight) : .real(Double(weight))
            write.token = label
            write.rows = [
                RowWrite(
                    table: "tags", key: .text(id), kind: .insert,
                    values: ["label": .text(label), "weight": .integer(weight), "price": price], deltas: ["hits": delta]),
                RowWrite(table: "stock", key: .text(sku), kind: .update, deltas: ["units": delta]),
            ]
            requests = [
                SQLRequest(
                    "INSERT INTO tags (id, label, weight, hits, price) VALUES (?, ?, ?, ?, ?)",
                    [.text(id), .text(label), .integer(weight), .integer(delta), price]),
                SQLRequest("UPDATE stock SET units = units + ? WHERE sku = ?", [.integer(delta), .text(sku)]),
            ]
            if !keys.contains(id) { keys.append(id) }
        case 38..<46:
            // An upsert of a known key: an insert where the node has the row
            // deleted, an update where it has it.
            guard let id = choice % 2 == 0 ? (deleted ?? known) : known else { return (false, false) }
            let (label, weight) = token()
            let price: Value = choice % 4 < 2 ? .real(Double(weight)) : .integer(weight)
            write.token = label
            write.rows = [
                RowWrite(
                    table: "tags", key: .text(id), kind: .upsert,
                    values: ["label": .text(label), "weight": .integer(weight), "price": price], deltas: ["hits": delta])
            ]
            requests = [
                SQLRequest(
                    """
                    INSERT INTO tags (id, label, weight, hits, price) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET label = excluded.label, weight = excluded.weight, hits = hits + excluded.hits,
                    price = excluded.price
                    """, [.text(id), .text(label), .integer(weight), .integer(delta), price])
            ]
        case 46..<60:
            guard let known else { return (false, false) }
            let (label, weight) = token()
            let price: Value = choice % 3 == 0 ? .real(Double(weight)) : .integer(weight)
            write.token = label
            write.rows = [
                RowWrite(
                    table: "tags", key: .text(known), kind: .update,
                    values: ["label": .text(label), "weight": .integer(weight), "price": price], deltas: ["hits": delta])
            ]
            requests = [
                SQLRequest(
                    "UPDATE tags SET label = ?, weight = ?, hits = hits + ?, price = ? WHERE id = ?",
                    [.text(label), .integer(weight), .integer(delta), price, .text(known)])
            ]
        case 60..<71:
            guard let known else { return (false, false) }
            write.rows = [RowWrite(table: "tags", key: .text(known), kind: .delete)]
            requests = [SQLRequest("DELETE FROM tags WHERE id = ?", [.text(known)])]
        case 71..<76:
            let column = "c\(choice % 3)"
            let definition = Self.addedColumnTypes[(choice / 3) % Self.addedColumnTypes.count]
            let spec = ColumnSpec(name: column, type: definition.type, defaultValue: definition.defaultValue)
            write.schema = .addColumn(table: "tags", spec)
            requests = [SQLRequest("ALTER TABLE tags ADD COLUMN \(spec.sql)")]
        case 76..<82:
            guard let known else { return (false, false) }
            let column = "c\(choice % 3)"
            let value = token().text
            write.token = value
            write.rows = [RowWrite(table: "tags", key: .text(known), kind: .update, values: [column: .text(value)])]
            requests = [SQLRequest("UPDATE tags SET \(column) = ? WHERE id = ?", [.text(value), .text(known)])]
        case 82..<86:
            let definition = Self.notesDefinitions[choice % Self.notesDefinitions.count]
            write.schema = .createTable(name: "notes", definition)
            requests = [SQLRequest(definition.createSQL(name: "notes"))]
        case 86..<94:
            // The client names every key column its node's table has, so no
            // key is left for SQLite to choose.
            guard let columns = try? await node.query("SELECT * FROM notes LIMIT 0").columns else { return (false, false) }
            nextKey += 1
            // Some notes have no body: NOT NULL in a winning definition
            // meets them.
            let body: Value
            if choice % 5 == 0 {
                body = .null
            } else {
                let text = token().text
                write.token = text
                body = .text(text)
            }
            var values: [String: Value] = ["body": body]
            if columns.contains("id") { values["id"] = .text("n\(nextKey)") }
            if columns.contains("n") { values["n"] = .integer(Int64(nextKey)) }
            // A REAL key, given as a whole number.
            if columns.contains("r") { values["r"] = .integer(Int64(nextKey)) }
            let names = values.keys.sorted()
            write.rows = [RowWrite(table: "notes", key: .null, kind: .insert, values: values)]
            requests = [
                SQLRequest(
                    "INSERT INTO notes (\(names.joined(separator: ", "))) VALUES (\(names.map { _ in "?" }.joined(separator: ", ")))",
                    names.compactMap { values[$0] })
            ]
        default:
            let index = Self.indexDefinitions[choice % Self.indexDefinitions.count]
            write.schema = .createIndex(index)
            requests = [SQLRequest(index.createSQL)]
        }

        // Only a write that carries a token can be found in the log again.
        let interrupted = write.token != nil ? interruption : nil
        if interrupted == .beforeCommit {
            writes.append(write)
            return (false, true)
        }
        let result: TransactionResult
        do {
            result = try await node.transaction(requests)
        } catch let error as P2PDBError
            where error.kind == .invalidSQL || error.kind == .refused || error.kind == .constraint || error.kind == .forbidden
        {
            // A column or table this node does not know yet, a schema
            // change that conflicts with one it has, a key it still holds,
            // a node revoked or made a reader: refused, nothing written.
            if interrupted != nil { writes.append(write) }
            return (false, interrupted != nil)
        }
        if interrupted != nil {
            writes.append(write)
            return (false, true)
        }
        // Statements that matched no row wrote nothing.
        guard let entry = result.entry, result.changes > 0 || write.schema != nil else { return (false, false) }
        write.outcome = .acknowledged(entry)
        writes.append(write)
        if write.rows.first?.kind == .delete, case .text(let id)? = write.rows.first?.key, !deletedKeys.contains(id) {
            deletedKeys.append(id)
        }
        return (true, false)
    }
}

/// A client request that wrote something (or may have), as the client
/// made it.
struct ClientWrite {
    var node: Int
    var outcome: WorkloadModel.Outcome
    /// A value that only this write carries, to find it in the log when
    /// its outcome is unknown.
    var token: String?
    var rows: [RowWrite] = []
    var schema: SchemaWrite?

    init(node: Int, outcome: WorkloadModel.Outcome) {
        self.node = node
        self.outcome = outcome
    }
}

/// One row a client request wrote, as the client asked.
struct RowWrite {
    enum Kind {
        case insert, update, delete
        /// INSERT … ON CONFLICT DO UPDATE: which one it was depends on what
        /// the node held, which the oracle works out from the log.
        case upsert
    }

    var table: String
    var key: Value
    var kind: Kind
    /// Last-writer-wins columns set explicitly.
    var values: [String: Value] = [:]
    /// Counter columns changed.
    var deltas: [String: Int64] = [:]
}

enum SchemaWrite {
    case addColumn(table: String, ColumnSpec)
    case createTable(name: String, NotesDefinition)
    case createIndex(IndexSpec)
}

/// A column as the workload declares it.
struct ColumnSpec: Equatable {
    var name: String
    /// The declared type, as `pragma_table_info` reports it.
    var type: String
    /// The literal default; NULL when there is none.
    var defaultValue: Value = .null
    var notNull = false

    var sql: String {
        var sql = type.isEmpty ? name : "\(name) \(type)"
        if notNull { sql += " NOT NULL" }
        switch defaultValue {
        case .text(let text): return "\(sql) DEFAULT '\(text)'"
        case .integer(let integer): return "\(sql) DEFAULT \(integer)"
        default: return sql
        }
    }

    /// What SQLite stores when `value` is written to this column, for the
    /// types the workload declares (TEXT, INTEGER, REAL, none, and COUNTER
    /// INTEGER), with the values it writes (text tokens, whole numbers).
    func stored(_ value: Value) -> Value {
        let type = type.uppercased()
        switch value {
        case .integer(let integer) where type == "TEXT": return .text(String(integer))
        case .integer(let integer) where type == "REAL": return .real(Double(integer))
        case .real(let real) where type.contains("INT") && real == real.rounded(): return .integer(Int64(real))
        case .text(let text) where type.contains("INT"): return Int64(text).map(Value.integer) ?? value
        default: return value
        }
    }

    /// What this column holds when another replica's row writes `value` to
    /// it: what SQLite stores, unless the column cannot hold that (NULL in
    /// a NOT NULL column, another type in a STRICT one); then its default,
    /// else NULL where the column allows it, else the zero of its type.
    func storable(_ value: Value, strict: Bool) -> Value {
        let converted = stored(value)
        let fits: Bool
        switch (converted, strict ? type.uppercased() : "") {
        case (.null, _): fits = !notNull
        case (.integer, "INTEGER"), (.text, "TEXT"), (.real, "REAL"), (_, ""), (_, "ANY"): fits = true
        default: fits = false
        }
        guard !fits else { return converted }
        if !defaultValue.isNull { return stored(defaultValue) }
        if !notNull { return .null }
        switch type.uppercased() {
        case "TEXT": return .text("")
        case "INTEGER": return .integer(0)
        case "REAL": return .real(0)
        default: return .blob([])
        }
    }
}

struct NotesDefinition: Equatable {
    var primaryKey: String
    var columns: [ColumnSpec]
    var strict = false

    func createSQL(name: String) -> String {
        let columns = columns.map { $0.name == primaryKey ? $0.sql + " PRIMARY KEY" : $0.sql }
        return "CREATE TABLE \(name) (\(columns.joined(separator: ", ")))" + (strict ? " STRICT" : "")
    }
}

struct IndexSpec: Equatable {
    struct Column: Equatable {
        var name: String
        var descending: Bool
    }

    var name: String
    var table: String
    var columns: [Column]

    var createSQL: String {
        "CREATE INDEX \(name) ON \(table) (\(columns.map { $0.descending ? $0.name + " DESC" : $0.name }.joined(separator: ", ")))"
    }
}
