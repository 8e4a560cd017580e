import CoreMetrics
import P2PDB
import Prometheus
import Synchronization

/// The node's Prometheus metrics, in a registry of its own so that several
/// nodes can run in one process (tests, the simulator) without sharing
/// counters through a global metrics system.
///
/// Every metric is one of ``NodeMetric/all``. Other layers (the sync
/// engine) record through ``factory`` by those names, and the factory gives
/// each metric the help text of its entry; `GET /metrics` prints the whole
/// registry.
public final class NodeMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// swift-metrics' entry to ``registry``, for the layers that do not
    /// depend on this module.
    public let factory: any MetricsFactory

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
        factory = HelpfulMetricsFactory(registry: registry)
    }

    func recordRequest(route: String, method: String, status: Int, seconds: Double) {
        let key = RequestKey(route: route, method: method, status: status)
        let (counter, timer) = requestMetrics.withLock { cache in
            if let found = cache[key] { return found }
            let made = (
                CoreMetrics.Counter(
                    label: NodeMetric.httpRequests.name, dimensions: [("route", route), ("method", method), ("status", String(status))],
                    factory: factory),
                CoreMetrics.Timer(
                    label: NodeMetric.httpRequestDuration.name, dimensions: [("route", route), ("method", method)], factory: factory)
            )
            cache[key] = made
            return made
        }
        counter.increment()
        timer.recordSeconds(seconds)
    }

    func recordError(code: String) {
        CoreMetrics.Counter(label: NodeMetric.httpErrors.name, dimensions: [("code", code)], factory: factory).increment()
    }

    /// Counts entries and row changes as the node applies them.
    func recordApplied(_ applied: AppliedEntry, localNode: NodeID) {
        let origin = applied.entry.author == localNode ? "local" : "remote"
        CoreMetrics.Counter(label: NodeMetric.entriesApplied.name, dimensions: [("origin", origin)], factory: factory).increment()
        CoreMetrics.Counter(label: NodeMetric.rowsApplied.name, dimensions: [("origin", origin)], factory: factory)
            .increment(by: applied.entry.rowChangeCount)
    }

    /// Gauges read from the replica just before a scrape.
    func recordReplica(_ status: NodeStatus) {
        let values: [(NodeMetric, Int)] = [
            (.logEntries, Int(status.summary.entryCount)), (.lamportClock, Int(status.summary.lamport)),
            (.pendingEntries, status.pendingEntries), (.heads, status.summary.heads.count),
            (.equivocations, status.equivocations.count),
        ]
        for (metric, value) in values { CoreMetrics.Gauge(label: metric.name, factory: factory).record(Double(value)) }
    }

    /// The Prometheus text exposition of every metric.
    func exposition() -> [UInt8] { registry.emitToBuffer() }
}

/// swift-metrics' factory over a Prometheus registry that registers each
/// metric with the help text ``NodeMetric`` gives its name. A name missing
/// there gets no `# HELP` line, which the exposition tests refuse.
private struct HelpfulMetricsFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry
    /// Kept for its default buckets and for unregistering.
    let prometheus: PrometheusMetricsFactory

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        prometheus = PrometheusMetricsFactory(registry: registry)
    }

    private func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: NodeMetric.named(label)?.help ?? "")
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: descriptor(label), labels: dimensions) }
        return registry.makeValueHistogram(
            descriptor: descriptor(label), labels: dimensions, buckets: prometheus.defaultValueHistogramBuckets)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(
            descriptor: descriptor(label), labels: dimensions, buckets: prometheus.defaultDurationHistogramBuckets)
    }

    func destroyCounter(_ handler: any CounterHandler) { prometheus.destroyCounter(handler) }
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) { prometheus.destroyFloatingPointCounter(handler) }
    func destroyRecorder(_ handler: any RecorderHandler) { prometheus.destroyRecorder(handler) }
    func destroyMeter(_ handler: any MeterHandler) { prometheus.destroyMeter(handler) }
    func destroyTimer(_ handler: any TimerHandler) { prometheus.destroyTimer(handler) }
}
