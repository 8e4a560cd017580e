import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import P2PDB

/// The HTTP/JSON API of a node: its routes and their middleware.
///
/// | route | answer | least role |
/// |---|---|---|
/// | `POST /v1/sql` | `{"columns", "rows"}` for a query, `{"changes", "entry"}` for a write | read-only for reads, read-write for writes |
/// | `POST /v1/tx` | `{"results": [...], "entry"}`, all statements or none | read-only for reads, read-write for writes |
/// | `GET /v1/status` | node ID, log, state hash, version vector, peers | read-only |
/// | `GET /v1/entries?after=ID&limit=N` | entries in log order, for audit (`order=newest`: the newest, newest first) | read-only |
/// | `GET /v1/entries/ID` | one entry | read-only |
/// | `GET /v1/verify` | `verify` on the running node: hashes, signatures, tables re-derived from the log | admin |
/// | `GET /v1/changes?since=0&include_rows=true` | Server-Sent Events, one per applied entry | read-only, or a ticket |
/// | `POST /v1/subscriptions` | `{"id", "events"}`: a live query whose result `GET /v1/subscriptions/ID/events` streams | read-only |
/// | `POST /v1/tickets` | a ticket that opens one event stream for a minute (`EventSource`) | read-only |
/// | `GET /v1/bundle?since=VV` | a bundle file of the entries `since` lacks | read-only |
/// | `POST /v1/bundle` | a bundle file verified and merged, all or nothing | read-write |
/// | `GET /v1/backup` | a backup file of the replica as of one commit (`p2pdb backup`) | admin |
/// | `POST /v1/network/changes` | a grant, revocation or table rule signed by this admin node: `{"entry"}` | admin |
/// | `GET /metrics` | Prometheus text | read-only |
/// | `GET /` | the dashboard: a page that signs in with a token and calls this API | no token (the page holds no data) |
/// | `GET /healthz` | 200 while the node is up | no token |
/// | `GET /readyz` | 200 once the node has caught up with its peers, else 503 | no token |
struct APIRoutes: Sendable {
    let node: Node
    let configuration: ServerConfiguration
    let metrics: NodeMetrics
    let gate: ShutdownGate
    let peers: (any PeerStatusProvider)?
    let subscribers: ConcurrencyLimit
    let bundleUploads: ConcurrencyLimit
    let tickets = StreamTicketIssuer()
    let subscriptions = QuerySubscriptions()
    let started = ContinuousClock.now

    init(node: Node, configuration: ServerConfiguration, metrics: NodeMetrics, gate: ShutdownGate, peers: (any PeerStatusProvider)?) {
        self.node = node
        self.configuration = configuration
        self.metrics = metrics
        self.gate = gate
        self.peers = peers
        subscribers = ConcurrencyLimit(maximum: configuration.maximumChangeSubscribers)
        bundleUploads = ConcurrencyLimit(maximum: configuration.maximumBundleUploads)
    }

    func router() -> Router<APIRequestContext> {
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: RequestMetricsMiddleware(metrics: metrics))
        if let origin = configuration.corsOrigin {
            // Outside the token check: a browser's preflight carries no token.
            router.add(middleware: CORSMiddleware(
                allowOrigin: origin == "*" ? .all : .custom(origin), allowHeaders: [.authorization, .contentType, .lastEventID],
                allowMethods: [.get, .post, .head, .options], exposedHeaders: ["Retry-After"], maxAge: .seconds(600)))
        }
        router.add(middleware: ErrorMiddleware(maximumBodySize: configuration.maximumBodySize, metrics: metrics))
        router.add(middleware: ShutdownMiddleware(gate: gate))
        router.add(middleware: BearerTokenMiddleware(tokens: configuration.tokens, tickets: tickets))

        router.get("/healthz") { _, _ in JSONResponse.make(.object([("status", .string("ok"))])) }
        router.get("/") { _, _ in DashboardPage.response }
        router.get("/readyz") { _, _ in try await readiness() }
        router.post("/v1/sql") { request, context in try await sql(request, role: try context.tokenRole()) }
        router.post("/v1/tx") { request, context in try await transaction(request, role: try context.tokenRole()) }
        router.get("/v1/status") { _, _ in JSONResponse.make(try await status()) }
        router.get("/v1/check") { _, _ in JSONResponse.make(JSONRendering.constraintProblems(try await node.store.constraintProblems())) }
        router.get("/v1/entries") { request, _ in try await entries(request) }
        router.get("/v1/entries/:id") { _, context in try await entry(context.parameters.require("id")) }
        router.get("/v1/verify") { _, context in
            // It replays the whole log: not for every reporting tool to start.
            try context.tokenRole().require(.admin, for: "verifying replays the whole log")
            return JSONResponse.make(JSONRendering.verification(try await node.store.verify()))
        }
        router.get("/v1/backup") { _, context in
            // It holds every row and the whole log, as verify reads them.
            try context.tokenRole().require(.admin, for: "a backup copies the whole replica")
            return try await backup()
        }
        router.get("/v1/changes") { request, _ in try await changes(request) }
        router.post("/v1/subscriptions") { request, _ in try await subscribe(request) }
        router.get("/v1/subscriptions/:id/events") { request, context in
            try await subscriptionEvents(context.parameters.require("id"), request)
        }
        router.delete("/v1/subscriptions/:id") { _, context in
            let id = try context.parameters.require("id")
            guard subscriptions.remove(id) else { throw P2PDBError(.notFound, "no subscription \(id) on this node") }
            return JSONResponse.make(.object([("deleted", .string(id))]))
        }
        router.post("/v1/tickets") { _, context in
            let issued = tickets.issue(role: min(try context.tokenRole(), .readOnly), now: SystemClock().now())
            return JSONResponse.make(.object([
                ("ticket", .string(issued.ticket)), ("expires_at", .integer(issued.expires)),
                ("expires_in", .integer(tickets.lifetime.components.seconds)),
            ]))
        }
        router.get("/v1/bundle") { request, _ in try await exportBundle(request) }
        router.post("/v1/bundle") { request, context in
            try context.tokenRole().require(.readWrite, for: "importing a bundle writes")
            return try await importBundle(request)
        }
        router.get("/metrics") { _, _ in try await prometheus() }
        router.post("/v1/network/changes") { request, context in
            try context.tokenRole().require(.admin, for: "granting, revoking and restricting change the network's members")
            return try await administer(request)
        }
        return router
    }

    /// Bodies and results up to this size are parsed and rendered where the
    /// request runs; larger ones on ``ComputeQueue/requests``, off Swift's
    /// shared pool, which two 4 MiB bodies would otherwise hold.
    private static let inlineWorkBytes = 64 << 10

    private func body<T: Sendable>(_ request: Request, _ decode: @escaping @Sendable (JSON) throws(P2PDBError) -> T) async throws -> T {
        let buffer = try await request.body.collect(upTo: configuration.maximumBodySize)
        let bytes = Array(buffer.readableBytesView)
        let work = { @Sendable () throws(P2PDBError) -> T in try decode(try RequestDecoding.document(bytes)) }
        return bytes.count <= Self.inlineWorkBytes ? try work() : try await ComputeQueue.requests.run(work)
    }

    private func respond(cost: Int, _ render: @escaping @Sendable () -> JSON) async -> Response {
        cost <= Self.inlineWorkBytes ? JSONResponse.make(render()) : await ComputeQueue.requests.run { JSONResponse.make(render()) }
    }

    /// `"read_only": true` runs the SQL as a read-only token would, whatever
    /// the token: what the dashboard's console sends.
    private func sql(_ request: Request, role: APIRole) async throws -> Response {
        let (statement, readOnly) = try await body(request) { json throws(P2PDBError) -> (SQLRequest, Bool) in
            let statement = try RequestDecoding.statement(json, also: ["read_only"])
            switch json["read_only"] {
            case nil: return (statement, false)
            case .bool(let readOnly)?: return (statement, readOnly)
            default: throw P2PDBError(.invalidInput, "read_only must be true or false")
            }
        }
        let result = try await run([statement], as: readOnly ? min(role, .readOnly) : role)
        return await respond(cost: result.resultCost) { JSONRendering.transaction(result) }
    }

    private func transaction(_ request: Request, role: APIRole) async throws -> Response {
        let statements = try await body(request, RequestDecoding.transaction)
        let result = try await run(statements, as: role)
        return await respond(cost: result.resultCost) {
            .object([
                ("results", .array(result.results.map(JSONRendering.statement))),
                ("entry", result.entry.map { .string($0.hex) } ?? .null),
            ])
        }
    }

    /// A grant, revocation or table rule by this node, which must be an
    /// admin of its private network.
    private func administer(_ request: Request) async throws -> Response {
        let change = try await body(request) { json throws(P2PDBError) in try MembershipChange(json: json) }
        let entry = try await node.store.administer([change])
        return JSONResponse.make(.object([("entry", .string(entry.hex))]))
    }

    /// One transaction. A read-only token's runs on a reader connection,
    /// which refuses a statement that writes before running it: such a
    /// request changes nothing and makes no entry.
    private func run(_ statements: [SQLRequest], as role: APIRole) async throws -> TransactionResult {
        if role >= .readWrite { return try await node.transaction(statements) }
        do {
            return TransactionResult(results: try await node.store.query(statements), entry: nil)
        } catch let error as P2PDBError where error == P2PDBError.statementWrites {
            throw role.refusal("this statement writes", needs: .readWrite)
        }
    }

    private func status() async throws -> JSON {
        let status = JSONRendering.status(try await node.status(), peers: JSONRendering.peers(await peers?.peers() ?? []))
        guard case .object(let members) = status else { return status }
        let uptime = ContinuousClock.now - started
        return .object(members + [("version", .string(P2PDBVersion.current)), ("uptime_seconds", .integer(uptime.components.seconds))])
    }

    /// Ready once no established peer is ahead by the version vectors last
    /// exchanged and no entry waits for its parents. A node that runs alone,
    /// or has no peer connected, serves what it holds and is ready.
    private func readiness() async throws -> Response {
        let catchUp = await peers?.catchUpStatus() ?? CatchUpStatus(entriesBehind: 0, peers: 0, awaitingVector: 0)
        let pending = try await node.store.pendingCount()
        var reason: String?
        if catchUp.entriesBehind > 0 {
            reason = "entries behind its peers: \(catchUp.entriesBehind)"
        } else if catchUp.awaitingVector > 0 {
            reason = "peers whose version vector has not arrived: \(catchUp.awaitingVector) of \(catchUp.peers)"
        } else if pending > 0 {
            reason = "entries waiting for their parents: \(pending)"
        }
        var members: [(String, JSON)] = [
            ("ready", .bool(reason == nil)), ("entries_behind", .integer(catchUp.entriesBehind)),
            ("pending_entries", .integer(pending)), ("peers", .integer(catchUp.peers)),
        ]
        if let reason { members.append(("reason", .string(reason))) }
        return JSONResponse.make(.object(members), status: reason == nil ? .ok : .serviceUnavailable)
    }

    private func entries(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        var limit = 100
        if let text = query.get("limit") {
            guard let value = Int(text), value > 0 else {
                throw P2PDBError(.invalidInput, "limit must be a positive integer")
            }
            limit = min(value, configuration.maximumEntriesPerPage)
        }
        let page: [AppliedEntry]
        switch query.get("order") ?? "log" {
        case "log":
            var after: Int64 = 0
            if let text = query.get("after") { after = try await position(ofEntry: text) }
            page = try await node.store.entries(after: after, limit: limit)
        case "newest":
            guard query.get("after") == nil else { throw P2PDBError(.invalidInput, "after pages in log order; leave it out with order=newest") }
            page = try await node.store.recentEntries(limit: limit)
        case let other:
            throw P2PDBError(.invalidInput, "order must be log or newest, not \(other)")
        }
        // The newest entries are one page: there is no next one.
        let full = page.count == limit && query.get("order") != "newest"
        // Up to a thousand entries with their changes: always worth the hop.
        return await respond(cost: .max) {
            .object([
                ("entries", .array(page.map(JSONRendering.entry))),
                ("next", full ? page.last.map { .string($0.entry.id.hex) } ?? .null : .null),
            ])
        }
    }

    private func entry(_ text: String) async throws -> Response {
        guard let id = EntryID(hex: text) else {
            throw P2PDBError(.invalidInput, "\(text) is not an entry ID (64 hex digits)")
        }
        guard let applied = try await node.store.entry(id) else {
            throw P2PDBError(.notFound, "no entry \(id.hex) in this node's log")
        }
        return JSONResponse.make(JSONRendering.entry(applied))
    }

    private func position(ofEntry text: String) async throws -> Int64 {
        guard let id = EntryID(hex: text) else {
            throw P2PDBError(.invalidInput, "\(text) is not an entry ID (64 hex digits)")
        }
        guard let position = try await node.store.position(of: id) else {
            throw P2PDBError(.notFound, "no entry \(id.hex) in this node's log; resume from an entry it holds")
        }
        return position
    }

    private func changes(_ request: Request) async throws -> Response {
        guard let slot = subscribers.take() else {
            throw P2PDBError(
                .busy, "the node holds its limit of \(subscribers.maximum) change feed subscribers; retry shortly, or share one feed")
        }
        // Last-Event-ID (set by a reconnecting EventSource) wins over ?after= and ?since=.
        let parameters = request.uri.queryParameters
        let resumeFrom = request.headers[.lastEventID].flatMap { $0.isEmpty ? nil : $0 } ?? parameters.get("after")
        let after: Int64
        switch (resumeFrom, parameters.get("since")) {
        case (let entry?, nil), (let entry?, _) where request.headers[.lastEventID] != nil:
            after = try await position(ofEntry: entry)
        case (nil, "0"?):
            after = 0
        case (nil, "now"?), (nil, nil):
            after = node.store.summary.lastPosition
        case (nil, let other?):
            throw P2PDBError(.invalidInput, "since must be 0 (from the first entry) or now, not \(other); to resume after an entry, use ?after=ID")
        case (_?, _?):
            throw P2PDBError(.invalidInput, "give one of ?after=ID and ?since=")
        }
        let includeRows: Bool
        switch parameters.get("include_rows") {
        case nil, "false"?: includeRows = false
        case "true"?: includeRows = true
        case let other?: throw P2PDBError(.invalidInput, "include_rows must be true or false, not \(other)")
        }
        let stream = ChangeEventStream(events: serverSentEvents, table: parameters.get("table"), after: after, includeRows: includeRows)
        return Response(
            status: .ok, headers: ServerSentEvents.headers,
            body: ResponseBody { writer in
                // The slot is held while the stream runs, and given back
                // with the body even if it never starts.
                defer { withExtendedLifetime(slot) {} }
                try await stream.write(to: &writer)
            })
    }

    /// Registers a live query after running it once, so that SQL that does
    /// not compile or that writes is refused at once.
    private func subscribe(_ request: Request) async throws -> Response {
        let query = try await body(request) { json throws(P2PDBError) -> QuerySubscriptions.Query in
            let statement = try RequestDecoding.statement(json, also: ["key"])
            var key: [String] = []
            if let given = json["key"] {
                guard let names = given.arrayValue?.compactMap(\.stringValue), names.count == given.arrayValue?.count else {
                    throw P2PDBError(.invalidInput, "key must be a list of result column names, such as [\"id\"]")
                }
                key = names
            }
            return QuerySubscriptions.Query(request: statement, key: key)
        }
        let result = try await node.store.query(query.request).last { $0.isQuery }
        guard let result else { throw P2PDBError(.invalidInput, "a subscription needs a query that returns rows (SELECT ...)") }
        try QuerySubscriptions.checkSize(result)
        if let missing = query.key.first(where: { name in !result.columns.contains { SQLText.key($0) == SQLText.key(name) } }) {
            throw P2PDBError(.invalidInput, "the key column \(missing) is not a column of the query's result (\(result.columns.joined(separator: ", ")))")
        }
        let id = try subscriptions.register(query)
        return JSONResponse.make(.object([("id", .string(id)), ("events", .string("/v1/subscriptions/\(id)/events"))]))
    }

    private func subscriptionEvents(_ id: String, _ request: Request) async throws -> Response {
        guard let slot = subscribers.take() else {
            throw P2PDBError(.busy, "the node holds its limit of \(subscribers.maximum) event streams; retry shortly")
        }
        let stream = try subscriptions.stream(id, lastEventID: request.headers[.lastEventID], events: serverSentEvents)
        return Response(
            status: .ok, headers: ServerSentEvents.headers,
            body: ResponseBody { writer in
                defer { withExtendedLifetime(slot) {} }
                try await stream.write(to: &writer)
            })
    }

    private var serverSentEvents: ServerSentEvents {
        ServerSentEvents(store: node.store, gate: gate, heartbeat: configuration.changeFeedHeartbeat)
    }

    private func exportBundle(_ request: Request) async throws -> Response {
        var since: VersionVector?
        if let text = request.uri.queryParameters.get("since") {
            guard let json = try? JSON.parse(Array(text.utf8)) else {
                throw P2PDBError(.invalidInput, "since must be a version vector as JSON, e.g. the version_vector of the receiver's status")
            }
            since = try VersionVector(json: json)
        }
        let (bytes, count) = try await node.store.exportBundle(since: since)
        return Response(
            status: .ok, headers: [.contentType: "application/octet-stream", .p2pdbEntries: "\(count)"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    private func importBundle(_ request: Request) async throws -> Response {
        guard let slot = bundleUploads.take() else {
            throw P2PDBError(.busy, "\(bundleUploads.maximum) bundles are being imported already; retry shortly")
        }
        defer { withExtendedLifetime(slot) {} }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: configuration.maximumBundleSize)
        } catch is NIOTooManyBytesError {
            throw APIError(
                status: .contentTooLarge, code: "too_large",
                message: "the bundle is larger than the limit of \(configuration.maximumBundleSize) bytes; export it in parts with since")
        }
        let report = try await node.store.importBundle(Array(buffer.readableBytesView))
        return JSONResponse.make(JSONRendering.importReport(report))
    }

    /// A backup of the replica (docs/FORMATS.md, section 5.4), made into a
    /// file in the data directory that is unlinked as soon as it is open:
    /// nothing stays behind however the download ends.
    private func backup() async throws -> Response {
        let path = node.directory.url.appendingPathComponent("backup-\(UUID().uuidString).tmp").path
        try PrivateFile.createEmpty(path)
        let entries: Int
        let handle: FileHandle
        do {
            entries = try await node.store.backup(to: path)
            guard let opened = FileHandle(forReadingAtPath: path) else { throw P2PDBError(.storage, "cannot read back \(path)") }
            handle = opened
        } catch {
            unlink(path)
            throw error
        }
        unlink(path)
        let size = Int(lseek(handle.fileDescriptor, 0, SEEK_END))
        lseek(handle.fileDescriptor, 0, SEEK_SET)
        return Response(
            status: .ok,
            headers: [.contentType: "application/vnd.sqlite3", .p2pdbEntries: "\(entries)", .p2pdbNode: node.nodeID.hex],
            body: ResponseBody(contentLength: size) { writer in
                while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                    try await writer.write(ByteBuffer(bytes: chunk))
                }
                try await writer.finish(nil)
            })
    }

    private func prometheus() async throws -> Response {
        metrics.recordReplica(try await node.status())
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
    }
}

extension HTTPField.Name {
    static let lastEventID = HTTPField.Name("Last-Event-ID")!
    /// How many entries a bundle response holds.
    static let p2pdbEntries = HTTPField.Name("P2PDB-Entries")!
    /// The node a backup is of.
    static let p2pdbNode = HTTPField.Name("P2PDB-Node")!
}
