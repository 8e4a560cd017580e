/// One metric of a node's `/metrics`: its name, type, help text and label
/// names. ``all`` lists every metric the node exports; whoever records one
/// names it through its entry here, and the exporter takes its help text
/// and type from here, so no metric goes out without them.
public struct NodeMetric: Sendable, Hashable {
    /// The Prometheus metric type.
    public enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    /// The metric family's name; counters end in `_total`.
    public let name: String
    public let kind: Kind
    /// The `# HELP` text: one line.
    public let help: String
    /// The label names, in the order every series of the metric carries them.
    public let labels: [String]

    init(_ name: String, _ kind: Kind, _ help: String, labels: [String] = []) {
        self.name = name
        self.kind = kind
        self.help = help
        self.labels = labels
    }

    /// The metric named `name`, if it is one of ``all``.
    public static func named(_ name: String) -> NodeMetric? { byName[name] }

    private static let byName = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
}

extension NodeMetric {
    // MARK: HTTP API

    /// Counted by the HTTP API for every response (`RequestMetricsMiddleware`).
    public static let httpRequests = NodeMetric(
        "p2pdb_http_requests_total", .counter, "HTTP requests answered, by route template, method and status code.",
        labels: ["route", "method", "status"])
    /// Timed by the HTTP API for every response (`RequestMetricsMiddleware`).
    public static let httpRequestDuration = NodeMetric(
        "p2pdb_http_request_duration_seconds", .histogram, "Time to answer an HTTP request up to its response head, in seconds.",
        labels: ["route", "method"])
    /// Counted by the HTTP API for every error body (`ErrorMiddleware`).
    public static let httpErrors = NodeMetric(
        "p2pdb_http_errors_total", .counter, "HTTP error responses, by error code.", labels: ["code"])

    // MARK: Replica

    /// Counted as the replica commits entries, local or received.
    public static let entriesApplied = NodeMetric(
        "p2pdb_entries_applied_total", .counter, "Entries applied to the replica, by origin (local or remote author).",
        labels: ["origin"])
    /// Counted with ``entriesApplied``.
    public static let rowsApplied = NodeMetric(
        "p2pdb_rows_applied_total", .counter, "Row changes in the entries applied to the replica, by origin.", labels: ["origin"])
    /// Read from the replica at each scrape, like the gauges after it.
    public static let logEntries = NodeMetric("p2pdb_log_entries", .gauge, "Entries in the replica's log.")
    /// Read at each scrape.
    public static let lamportClock = NodeMetric("p2pdb_lamport_clock", .gauge, "The highest Lamport clock the replica holds.")
    /// Read at each scrape.
    public static let pendingEntries = NodeMetric("p2pdb_pending_entries", .gauge, "Entries waiting for their parents.")
    /// Read at each scrape.
    public static let heads = NodeMetric("p2pdb_heads", .gauge, "Head entries of the replica's log.")
    /// Read at each scrape.
    public static let equivocations = NodeMetric(
        "p2pdb_equivocations", .gauge, "Authors seen signing two entries with the same sequence number.")

    // MARK: Replication

    /// Set by the sync engine at each tick.
    public static let peersConnected = NodeMetric("p2pdb_peers_connected", .gauge, "Established peer sessions.")
    /// Set by the sync engine at each tick.
    public static let syncLag = NodeMetric(
        "p2pdb_sync_lag_entries", .gauge,
        "The most entries any connected peer holds that this node lacks, by the version vectors last exchanged.")
    /// Counted by the sync engine, like the counters after it.
    public static let syncBytesSent = NodeMetric(
        "p2pdb_sync_bytes_sent_total", .counter, "Estimated encoded bytes of the messages sent to peers.")
    /// Counted by the sync engine.
    public static let syncBytesReceived = NodeMetric(
        "p2pdb_sync_bytes_received_total", .counter, "Estimated encoded bytes of the messages received from peers.")
    /// Counted by the sync engine.
    public static let syncEntriesSent = NodeMetric(
        "p2pdb_sync_entries_sent_total", .counter, "Entries sent to peers in pushes, pull replies and want replies.")
    /// Counted by the sync engine.
    public static let syncEntriesReceived = NodeMetric(
        "p2pdb_sync_entries_received_total", .counter, "Entries received from peers and applied.")
    /// Counted by the sync engine.
    public static let syncDuplicatesReceived = NodeMetric(
        "p2pdb_sync_duplicates_received_total", .counter, "Entries received from peers that the log already held.")
    /// Counted by the sync engine.
    public static let syncEntriesRefused = NodeMetric(
        "p2pdb_sync_entries_refused_total", .counter, "Entries from peers refused by verification or the log checks.")
    /// Counted by the sync engine.
    public static let syncPeersRefused = NodeMetric(
        "p2pdb_sync_peers_refused_total", .counter, "Peer sessions ended for breaking the protocol or the network's rules.")
    /// Counted by the sync engine.
    public static let syncMessagesDropped = NodeMetric(
        "p2pdb_sync_messages_dropped_total", .counter, "Messages dropped because a peer's queue was full.")

    /// Every metric a node exports, in the order FORMATS.md §7.8 lists them.
    public static let all: [NodeMetric] = [
        httpRequests, httpRequestDuration, httpErrors,
        entriesApplied, rowsApplied, logEntries, lamportClock, pendingEntries, heads, equivocations,
        peersConnected, syncLag, syncBytesSent, syncBytesReceived, syncEntriesSent, syncEntriesReceived,
        syncDuplicatesReceived, syncEntriesRefused, syncPeersRefused, syncMessagesDropped,
    ]
}
