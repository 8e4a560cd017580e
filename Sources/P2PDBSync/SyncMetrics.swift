import CoreMetrics
import P2PDB

/// The sync engine's metrics, named by their ``NodeMetric`` entries.
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
        peers = Gauge(label: NodeMetric.peersConnected.name, factory: factory)
        lag = Gauge(label: NodeMetric.syncLag.name, factory: factory)
        bytesSent = Counter(label: NodeMetric.syncBytesSent.name, factory: factory)
        bytesReceived = Counter(label: NodeMetric.syncBytesReceived.name, factory: factory)
        entriesSent = Counter(label: NodeMetric.syncEntriesSent.name, factory: factory)
        entriesReceived = Counter(label: NodeMetric.syncEntriesReceived.name, factory: factory)
        duplicatesReceived = Counter(label: NodeMetric.syncDuplicatesReceived.name, factory: factory)
        entriesRefused = Counter(label: NodeMetric.syncEntriesRefused.name, factory: factory)
        refusedPeers = Counter(label: NodeMetric.syncPeersRefused.name, factory: factory)
        messagesDropped = Counter(label: NodeMetric.syncMessagesDropped.name, factory: factory)
    }
}
