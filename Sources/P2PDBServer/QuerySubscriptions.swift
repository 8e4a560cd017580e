import Foundation
import Hummingbird
import NIOCore
import P2PDB
import Synchronization

/// Live queries of the HTTP API, in the spirit of Corrosion's subscriptions
/// and Electric's shapes: `POST /v1/subscriptions` registers a read-only
/// query, and `GET /v1/subscriptions/ID/events` streams its result: first
/// whole (`event: snapshot`), then, after each commit that changes it, the
/// rows that entered, changed or left (`event: diff`).
///
/// The node keeps each subscription's last few results sent, so a client
/// that reconnects with `Last-Event-ID` gets one diff covering everything it
/// missed (the node cannot know which of the events it wrote last arrived);
/// any other connection starts with a snapshot. Subscriptions live
/// in memory: a restart of the node forgets them (404: register again).
final class QuerySubscriptions: Sendable {
    struct Query: Sendable {
        let request: SQLRequest
        /// The names of the result columns that identify a row.
        let key: [String]
    }

    private struct State {
        var query: Query
        /// The last results sent, by the number of their event, oldest first.
        var sent: [(event: Int, columns: [String], rows: [[Value]], cost: Int)] = []
        var lastEvent = 0
        /// The stream now attached; a newer one takes over.
        var stream: UUID?
        var lastUsed: ContinuousClock.Instant
    }

    let maximum: Int
    private let states = Mutex<[String: State]>([:])

    /// Subscriptions with no stream for this long are dropped when room is needed.
    static let idleLifetime: Duration = .seconds(3600)

    /// The largest result a subscription keeps (as the result limit of SQL
    /// counts it); a larger one ends its stream with an error.
    static let maximumResultBytes = 2 << 20
    /// What the older results one subscription keeps for reconnections may
    /// cost besides the last: the node's memory for subscriptions stays
    /// under `maximum` times 4 MiB.
    static let keptResultBytes = 2 << 20

    static func checkSize(_ result: StatementResult) throws(P2PDBError) {
        guard result.resultCost <= maximumResultBytes else {
            throw P2PDBError(
                .limitExceeded,
                "the result is larger than \(maximumResultBytes >> 20) MiB, which a subscription keeps to compute what changed; narrow the query (WHERE, LIMIT) or read it with POST /v1/sql")
        }
    }

    init(maximum: Int = 128) {
        self.maximum = maximum
    }

    /// Registers `query`; its ID.
    func register(_ query: Query) throws(P2PDBError) -> String {
        let id = UUID().uuidString.lowercased()
        let now = ContinuousClock.now
        try states.withLock { states throws(P2PDBError) in
            if states.count >= maximum {
                states = states.filter { $0.value.stream != nil || now - $0.value.lastUsed < Self.idleLifetime }
            }
            guard states.count < maximum else {
                throw P2PDBError(.busy, "the node holds its limit of \(maximum) subscriptions; delete unused ones (DELETE /v1/subscriptions/ID)")
            }
            states[id] = State(query: query, stream: nil, lastUsed: now)
        }
        return id
    }

    func remove(_ id: String) -> Bool {
        states.withLock { $0.removeValue(forKey: id) != nil }
    }

    /// The event stream of subscription `id`, resuming after `lastEventID`.
    func stream(_ id: String, lastEventID: String?, events: ServerSentEvents) throws(P2PDBError) -> SubscriptionEventStream {
        let attachment = UUID()
        let query: Query? = states.withLock { states in
            states[id]?.stream = attachment
            states[id]?.lastUsed = .now
            return states[id]?.query
        }
        guard let query else {
            throw P2PDBError(.notFound, "no subscription \(id) on this node (a restart forgets them): register the query again with POST /v1/subscriptions")
        }
        return SubscriptionEventStream(subscriptions: self, id: id, query: query, attachment: attachment, resumeAfter: lastEventID, events: events)
    }

    /// The results kept for reconnections to diff from.
    static let resultsKept = 8

    /// What to send for a new result, given the event the client holds
    /// (`baseline`, nil for none): nil when the stream was taken over or the
    /// subscription deleted, `.some(nil)` when there is nothing to send.
    fileprivate func advance(
        _ id: String, attachment: UUID, baseline: inout Int?, resuming: Bool, columns: [String], rows: [[Value]], cost: Int, key: [String]
    ) -> String?? {
        states.withLock { states -> String?? in
            guard var state = states[id], state.stream == attachment else { return nil }
            defer { states[id] = state }
            state.lastUsed = .now
            let held = baseline.flatMap { event in state.sent.first { $0.event == event } }
            let event = state.lastEvent + 1
            let text: String
            if let held, held.columns == columns {
                let keyColumns = key.compactMap { name in columns.firstIndex { SQLText.key($0) == SQLText.key(name) } }
                let diff = QueryResultDiff(from: held.rows, to: rows, keyColumns: keyColumns.count == key.count ? keyColumns : [])
                // A reconnection is told it is up to date; otherwise only changes are sent.
                guard !diff.isEmpty || resuming else { return .some(nil) }
                text = Self.event("diff", event, [
                    ("entered", .array(diff.entered.map(Self.row))), ("changed", .array(diff.changed.map(Self.row))),
                    ("left", .array(diff.left.map(Self.row))),
                ])
            } else {
                text = Self.event("snapshot", event, [("columns", .array(columns.map(JSON.string))), ("rows", .array(rows.map(Self.row)))])
            }
            state.lastEvent = event
            var kept = [(event, columns, rows, cost)]
            var budget = Self.keptResultBytes
            for older in state.sent.reversed() where kept.count < Self.resultsKept && older.cost <= budget {
                budget -= older.cost
                kept.insert(older, at: 0)
            }
            state.sent = kept
            baseline = event
            return .some(text)
        }
    }

    /// Marks the stream gone, unless a newer one took over.
    fileprivate func detach(_ id: String, attachment: UUID) {
        states.withLock { states in
            if states[id]?.stream == attachment { states[id]?.stream = nil }
        }
    }

    private static func row(_ values: [Value]) -> JSON { .array(values.map(\.json)) }

    private static func event(_ name: String, _ number: Int, _ members: [(String, JSON)]) -> String {
        "event: \(name)\nid: \(number)\ndata: \(JSON.object(members).text)\n\n"
    }
}

/// One client's stream of a subscription's results.
struct SubscriptionEventStream: Sendable {
    let subscriptions: QuerySubscriptions
    let id: String
    let query: QuerySubscriptions.Query
    let attachment: UUID
    let resumeAfter: String?
    let events: ServerSentEvents

    func write(to writer: inout any ResponseBodyWriter) async throws {
        defer { subscriptions.detach(id, attachment: attachment) }
        var baseline = resumeAfter.flatMap { Int($0) }
        var resuming = baseline != nil
        // The query runs again only after a commit that changes a table it
        // reads, as a live query in the library does; an unchanged result
        // gives an empty diff, which `advance` skips.
        let results = events.store.observe(query.request, removingDuplicates: false)
        try await events.run(to: &writer, following: results) { writer, next in
            guard let next else { return .nothing }
            let result: StatementResult
            do {
                result = try next.get()
                try QuerySubscriptions.checkSize(result)
            } catch {
                // A table the query reads was dropped, say: the client learns why the stream ends.
                let failure = error as? P2PDBError ?? P2PDBError(.storage, "\(error)")
                let data = JSON.object([("code", .string(failure.kind.rawValue)), ("message", .string(failure.message))])
                try await writer.write(ByteBuffer(string: "event: error\ndata: \(data.text)\n\n"))
                return .finished
            }
            guard let event = subscriptions.advance(
                id, attachment: attachment, baseline: &baseline, resuming: resuming, columns: result.columns, rows: result.rows, cost: result.resultCost, key: query.key)
            else { return .finished }
            resuming = false
            guard let event else { return .nothing }
            try await writer.write(ByteBuffer(string: event))
            return .events
        }
    }
}
