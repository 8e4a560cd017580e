import CoreMetrics
import P2PDB
import Prometheus
import Synchronization

/// The node's Prometheus metrics, in a registry of its own so that several
/// nodes can run in one process (tests, the simulator) without sharing
/// counters through a global metrics system.
///
/// Other layers (the sync engine) record through ``factory`` under the
/// `p2pdb_` prefix; `GET /metrics` prints the whole registry.
public final class NodeMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let factory: PrometheusMetricsFactory

    /// Handles by (route, method, status): making one costs label checks
    /// and a registry lookup, too much for every request.
    private let requestMetrics = Mutex<[RequestKey: (CoreMetrics.Counter, CoreMetrics.Timer)]>([:])

    private struct RequestKey: Hashable {
        let route: String
        let method: String
        let status: Int
    }

    public init() {
        registry = PrometheusCollectorRegistry()
        factory = PrometheusMetricsFactory(registry: registry)
    }

    func recordRequest(route: String, method: String, status: Int, seconds: Double) {
        let key = RequestKey(route: route, method: method, status: status)
        let (counter, timer) = requestMetrics.withLock { cache in
            if let found = cache[key] { return found }
            let made = (
                CoreMetrics.Counter(
                    label: "p2pdb_http_requests_total", dimensions: [("route", route), ("method", method), ("status", String(status))],
                    factory: factory),
                CoreMetrics.Timer(
                    label: "p2pdb_http_request_duration_seconds", dimensions: [("route", route), ("method", method)], factory: factory)
            )
            cache[key] = made
            return made
        }
        counter.increment()
        timer.recordSeconds(seconds)
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
