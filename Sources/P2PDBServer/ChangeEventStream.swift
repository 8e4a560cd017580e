import Hummingbird
import NIOCore
import P2PDB

/// `GET /v1/changes`: every entry the node applies, local or from a peer,
/// as Server-Sent Events, with the entry ID as the event ID.
///
/// The log is the source of truth and the live feed only wakes the stream
/// up: after each wake-up the stream sends every entry after the last one
/// it sent, in log order. A slow client therefore never loses events (the
/// log is its buffer), and a client that reconnects with `Last-Event-ID`
/// resumes exactly after the last event it saw.
struct ChangeEventStream: Sendable {
    let events: ServerSentEvents
    /// Only changes to this table, when set.
    let table: String?
    /// The log position after which to start.
    let after: Int64
    /// Whether each change carries the whole row as it is when the event is
    /// sent (`include_rows`).
    let includeRows: Bool

    private var store: ReplicaStore { events.store }

    func write(to writer: inout any ResponseBodyWriter) async throws {
        var last = after
        try await events.run(to: &writer) { writer in
            var sent = ServerSentEvents.Sent.nothing
            while true {
                let batch = try await store.entries(after: last, limit: 256)
                guard let final = batch.last else { break }
                let rows = includeRows ? try await currentRows(of: batch) : [:]
                var buffer = ByteBuffer()
                for applied in batch { append(applied, rows: rows, to: &buffer) }
                last = final.position
                if buffer.readableBytes > 0 {
                    try await writer.write(buffer)
                    sent = .events
                }
            }
            return sent
        }
    }

    /// The rows the changes in `batch` name, read in one snapshot.
    private func currentRows(of batch: [AppliedEntry]) async throws -> [RowKey: JSON] {
        let unique = Array(Set(batch.flatMap { rowKeys($0.entry) }))
        let rows = try await store.currentRows(unique)
        return Dictionary(uniqueKeysWithValues: zip(unique, rows.map { row in row.map { .object($0.map { ($0, $1.json) }) } ?? .null }))
    }

    /// The key of each change the stream sends of `entry`, in the order of
    /// `JSONRendering.changes`.
    private func rowKeys(_ entry: Entry) -> [RowKey] {
        entry.payload.tableChanges.filter { isIncluded($0.table) }.flatMap { changes in
            changes.rows.map { RowKey(table: changes.table, columns: changes.primaryKeyColumns, values: $0.primaryKey) }
        }
    }

    private func isIncluded(_ changed: String) -> Bool {
        table.map { SQLText.key($0) == SQLText.key(changed) } ?? true
    }

    private func append(_ applied: AppliedEntry, rows: [RowKey: JSON], to buffer: inout ByteBuffer) {
        let entry = applied.entry
        var changes = JSONRendering.changes(entry.payload.tableChanges, table: table)
        if includeRows, case .array(let items) = changes {
            changes = .array(zip(items, rowKeys(entry)).map { item, key in
                guard case .object(let members) = item else { return item }
                return .object(members + [("row", rows[key] ?? .null)])
            })
        }
        let schema = entry.payload.schemaChanges.filter { isIncluded($0.tableName) }
        if table != nil, case .array(let items) = changes, items.isEmpty, schema.isEmpty { return }
        let data = JSON.object([
            ("entry", .string(entry.id.hex)),
            ("author", .string(entry.author.hex)),
            ("seq", .integer(entry.seq)),
            ("lamport", .integer(entry.lamport)),
            ("time", .integer(entry.wallTime)),
            ("schema", .array(schema.map(JSONRendering.schemaChange))),
            ("changes", changes),
        ])
        buffer.writeString("id: \(entry.id.hex)\ndata: \(data.text)\n\n")
    }
}
