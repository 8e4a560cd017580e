import P2PDBCore
import P2PDBStorage

/// The JSON shapes shared by the CLI's `--json` output and the HTTP API.
public enum JSONRendering {
    public static func query(_ result: StatementResult) -> JSON {
        .object([
            ("columns", .array(result.columns.map(JSON.string))),
            ("rows", .array(result.rows.map { .array($0.map(\.json)) })),
        ])
    }

    /// `{"changes": N, "entry": "<id>" | null}`, plus the rows of the last
    /// query when the transaction also returned rows (RETURNING, SELECT).
    public static func transaction(_ result: TransactionResult) -> JSON {
        if result.entry == nil, result.changes == 0, let query = result.lastQuery { return Self.query(query) }
        var members: [(String, JSON)] = [
            ("changes", .integer(result.changes)),
            ("entry", result.entry.map { .string($0.hex) } ?? .null),
        ]
        if let query = result.lastQuery {
            members.append(("columns", .array(query.columns.map(JSON.string))))
            members.append(("rows", .array(query.rows.map { .array($0.map(\.json)) })))
        }
        return .object(members)
    }

    public static func statement(_ result: StatementResult) -> JSON {
        result.isQuery ? query(result) : .object([("changes", .integer(result.changes))])
    }

    /// What importing a bundle did: `{"applied", "duplicates", "pending"}`.
    public static func importReport(_ report: ApplyReport) -> JSON {
        .object([
            ("applied", .integer(report.applied)), ("duplicates", .integer(report.duplicates)),
            ("pending", .integer(report.pending)),
        ])
    }

    public static func versionVector(_ vector: VersionVector) -> JSON {
        .object(vector.sorted.map { ($0.author.hex, .integer($0.seq)) })
    }

    public static func status(_ status: NodeStatus, peers: JSON = .array([])) -> JSON {
        let summary = status.summary
        return .object([
            ("node_id", .string(summary.nodeID.hex)),
            ("entries", .integer(summary.entryCount)),
            ("heads", .array(summary.heads.map { .string($0.hex) })),
            ("lamport", .integer(summary.lamport)),
            ("state_hash", .string(summary.stateHash.hex)),
            ("version_vector", versionVector(summary.versionVector)),
            (
                "equivocations",
                .array(
                    status.equivocations.map {
                        .object([
                            ("author", .string($0.author.hex)), ("seq", .integer($0.seq)),
                            ("entries", .array($0.entries.map { .string($0.hex) })),
                        ])
                    })
            ),
            ("pending_entries", .integer(status.pendingEntries)),
            ("awaiting_own_history", .bool(summary.awaitingOwnHistory)),
            ("network", network(status)),
            ("peers", peers),
        ])
    }

    /// Open mode, or the private network with this node's role in it: the
    /// one its credential gives, and the one its history carries (null until
    /// its first entry).
    static func network(_ status: NodeStatus) -> JSON {
        guard let network = status.network else { return .object([("mode", .string("open"))]) }
        return .object([
            ("mode", .string("private")), ("name", .string(network.name)), ("id", .string(network.id.hex)),
            ("role", status.credential.map { .string($0.role.description) } ?? .null),
            ("role_in_log", status.summary.role.map { .string($0.description) } ?? .null),
            ("credential_expires", status.credential?.expiresAt.map { .string(Timestamps.iso8601(milliseconds: $0)) } ?? .null),
        ])
    }

    /// An entry for audit: everything it carries, signature included.
    public static func entry(_ applied: AppliedEntry) -> JSON {
        let entry = applied.entry
        return .object([
            ("id", .string(entry.id.hex)),
            ("position", .integer(applied.position)),
            ("author", .string(entry.author.hex)),
            ("seq", .integer(entry.seq)),
            ("lamport", .integer(entry.lamport)),
            ("parents", .array(entry.parents.map { .string($0.hex) })),
            ("time", .integer(entry.wallTime)),
            ("schema", .array(entry.payload.schemaChanges.map(schemaChange))),
            ("changes", changes(entry.payload.tableChanges, table: nil)),
            ("signature", .string(Hex.encode(entry.signature))),
        ])
    }

    /// What `verify` found: `ok` with no problems, else the problems, first
    /// first.
    public static func verification(_ report: VerificationReport) -> JSON {
        .object([
            ("ok", .bool(report.isValid)), ("entries", .integer(report.entriesChecked)), ("rows", .integer(report.rowsChecked)),
            ("state_hash", .string(report.stateHash.hex)), ("problems", .array(report.problems.map(JSON.string))),
        ])
    }

    /// Row changes as JSON objects, optionally only those of one table.
    public static func changes(_ tables: [TableChanges], table filter: String?) -> JSON {
        var items: [JSON] = []
        for changes in tables where filter.map({ SQLText.key($0) == SQLText.key(changes.table) }) ?? true {
            for row in changes.rows {
                var members: [(String, JSON)] = [
                    ("table", .string(changes.table)),
                    ("op", .string(row.kind == .insert ? "insert" : row.kind == .update ? "update" : "delete")),
                    ("key", .object(zip(changes.primaryKeyColumns, row.primaryKey).map { ($0, $1.json) })),
                ]
                if !row.values.isEmpty {
                    members.append(("values", .object(row.values.map { (changes.columns[$0.column], $0.value.json) })))
                }
                if !row.deltas.isEmpty {
                    members.append(("deltas", .object(row.deltas.map { (changes.columns[$0.column], .integer($0.delta)) })))
                }
                items.append(.object(members))
            }
        }
        return .array(items)
    }

    public static func schemaChange(_ change: SchemaChange) -> JSON {
        switch change {
        case .createTable(let table):
            return .object([("op", .string("create_table")), ("table", .string(table.name)),
                            ("sql", .string(ReplicatedSchemaPreview.createSQL(table)))])
        case .addColumn(let table, let column):
            return .object([("op", .string("add_column")), ("table", .string(table)), ("column", .string(column.sql))])
        case .createIndex(let index):
            return .object([("op", .string("create_index")), ("table", .string(index.table)), ("sql", .string(index.sql))])
        case .createObject(let object):
            return .object([
                ("op", .string("create_" + object.kind.keyword.lowercased())), ("name", .string(object.name)), ("sql", .string(object.sql)),
            ])
        case .dropObject(let kind, let name):
            return .object([("op", .string("drop_" + kind.keyword.lowercased())), ("name", .string(name))])
        }
    }
}

extension JSONRendering {
    /// `{"problems": [{"table", "key", "kind", "parent"|"constraint", "message"}], "count"}`.
    public static func constraintProblems(_ problems: [ConstraintProblem]) -> JSON {
        .object([
            ("count", .integer(Int64(problems.count))),
            (
                "problems",
                .array(
                    problems.map { problem in
                        var members: [(String, JSON)] = [("table", .string(problem.table)), ("key", .array(problem.key.map(\.json)))]
                        switch problem.kind {
                        case .danglingReference(let parent, let columns):
                            members += [
                                ("kind", .string("dangling_reference")), ("parent", .string(parent)),
                                ("columns", .array(columns.map { .string($0) })),
                            ]
                        case .failedCheck(let constraint):
                            members += [("kind", .string("failed_check")), ("constraint", .string(constraint))]
                        }
                        members.append(("message", .string(problem.description)))
                        return .object(members)
                    })
            ),
        ])
    }
}

/// The DDL a table definition produces, for display.
enum ReplicatedSchemaPreview {
    static func createSQL(_ table: TableDefinition) -> String {
        var schema = ReplicatedSchema()
        schema.apply(.createTable(table), origin: .init(stamp: Stamp(lamport: 0, author: NodeID(Bytes32(word0: 0, word1: 0, word2: 0, word3: 0))), change: 0))
        return schema.table(named: table.name)?.createSQL ?? ""
    }
}

extension JSONRendering {
    /// One object per peer; times are ISO 8601 in UTC, like
    /// `credential_expires`, and null when nothing happened yet.
    public static func peers(_ peers: [PeerStatus]) -> JSON {
        let time = { (milliseconds: Int64?) in milliseconds.map { JSON.string(Timestamps.iso8601(milliseconds: $0)) } ?? .null }
        return .array(
            peers.map { peer in
                .object([
                    ("node_id", peer.nodeID.map { .string($0.hex) } ?? .null),
                    ("address", .string(peer.address)),
                    ("connected", .bool(peer.connected)),
                    ("source", .string(peer.source.rawValue)),
                    ("entries_behind", .integer(peer.entriesBehind)),
                    ("entries_ahead", .integer(peer.entriesAhead)),
                    ("last_contact", time(peer.lastContact)),
                    ("round_trip_ms", peer.roundTripMilliseconds.map { .integer($0) } ?? .null),
                    ("last_error", peer.lastError.map(JSON.string) ?? .null),
                    ("last_error_at", time(peer.lastErrorAt)),
                ])
            })
    }
}
