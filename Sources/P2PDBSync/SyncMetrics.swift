import CoreMetrics

/// The sync engine's metrics, under the `p2pdb_` prefix.
struct SyncMetrics {
    let peers: Gauge
    let lag: Gauge
    let bytesSent: Counter
    let bytesReceived: Counter
    let entriesSent: Counter
    let entriesReceived: Counter
    let duplicatesReceived: Counter
    let entriesRefused: Counter
    let refusedPeers: Counter
    let messagesDropped: Counter

    init(factory: any MetricsFactory) {
        peers = Gauge(label: "p2pdb_peers_connected", factory: factory)
        lag = Gauge(label: "p2pdb_sync_lag_entries", factory: factory)
        bytesSent = Counter(label: "p2pdb_sync_bytes_sent_total", factory: factory)
        bytesReceived = Counter(label: "p2pdb_sync_bytes_received_total", factory: factory)
        entriesSent = Counter(label: "p2pdb_sync_entries_sent_total", factory: factory)
        entriesReceived = Counter(label: "p2pdb_sync_entries_received_total", factory: factory)
        duplicatesReceived = Counter(label: "p2pdb_sync_duplicates_received_total", factory: factory)
        entriesRefused = Counter(label: "p2pdb_sync_entries_refused_total", factory: factory)
        refusedPeers = Counter(label: "p2pdb_sync_peers_refused_total", factory: factory)
        messagesDropped = Counter(label: "p2pdb_sync_messages_dropped_total", factory: factory)
    }
}
