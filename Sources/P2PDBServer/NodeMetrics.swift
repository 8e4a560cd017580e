import CoreMetrics
import P2PDB
import Prometheus

/// The node's Prometheus metrics, in a registry of its own so that several
/// nodes can run in one process (tests, the simulator) without sharing
/// counters through a global metrics system.
///
/// Other layers (the sync engine) record through ``factory`` under the
/// `p2pdb_` prefix; `GET /metrics` prints the whole registry.
public final class NodeMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let factory: PrometheusMetricsFactory

    public init() {
        registry = PrometheusCollectorRegistry()
        factory = PrometheusMetricsFactory(registry: registry)
    }

    func recordRequest(route: String, method: String, status: Int, seconds: Double) {
        let dimensions = [("route", route), ("method", method), ("status", String(status))]
        Counter(label: "p2pdb_http_requests_total", dimensions: dimensions, factory: factory).increment()
        CoreMetrics.Timer(label: "p2pdb_http_request_duration_seconds", dimensions: [("route", route), ("method", method)], factory: factory)
            .recordSeconds(seconds)
    }

    func recordError(code: String) {
        Counter(label: "p2pdb_http_errors_total", dimensions: [("code", code)], factory: factory).increment()
    }

    /// Counts entries and row changes as the node applies them.
    func recordApplied(_ applied: AppliedEntry, localNode: NodeID) {
        let origin = applied.entry.author == localNode ? "local" : "remote"
        Counter(label: "p2pdb_entries_applied_total", dimensions: [("origin", origin)], factory: factory).increment()
        Counter(label: "p2pdb_rows_applied_total", dimensions: [("origin", origin)], factory: factory)
            .increment(by: applied.entry.rowChangeCount)
    }

    /// Gauges read from the replica just before a scrape.
    func recordReplica(_ status: NodeStatus) {
        Gauge(label: "p2pdb_log_entries", factory: factory).record(Double(status.summary.entryCount))
        Gauge(label: "p2pdb_lamport_clock", factory: factory).record(Double(status.summary.lamport))
        Gauge(label: "p2pdb_pending_entries", factory: factory).record(Double(status.pendingEntries))
        Gauge(label: "p2pdb_heads", factory: factory).record(Double(status.summary.heads.count))
        Gauge(label: "p2pdb_equivocations", factory: factory).record(Double(status.equivocations.count))
    }

    /// The Prometheus text exposition of every metric.
    func exposition() -> [UInt8] { registry.emitToBuffer() }
}
