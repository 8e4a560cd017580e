/// Everything a case does, decided before any replica exists, so that the
/// case is the same whatever the engine does with it.
struct SurfaceScript: Sendable {
    /// Replicas that write. A differential case has one, plus an observer
    /// that only receives its entries at the end.
    var writers: Int
    var differential: Bool
    /// The last writer has the first one's key, as a node whose data was
    /// lost but whose key was kept: it writes seq 1 again (equivocation).
    var sharedKey = false
    /// The schema and the workload: transactions and partial deliveries.
    var steps: [Step]
    /// Full delivery between every pair, after the steps.
    var finale: [Delivery]

    var replicas: Int { differential ? writers + 1 : writers }

    enum Step: Sendable {
        /// One `execute` call on a replica: one SQLRequest per inner array,
        /// whose statements are joined into one text.
        case transaction(replica: Int, requests: [[ScriptStatement]])
        case delivery(Delivery)
    }

    var statementCount: Int {
        steps.reduce(0) { total, step in
            guard case .transaction(_, let requests) = step else { return total }
            return total + requests.reduce(0) { $0 + $1.count }
        }
    }
}

/// Entries sent from one replica to another.
struct Delivery: Sendable {
    enum Mode: String, Sendable, CaseIterable {
        /// `exportBundle(since:)` the target's version vector (all of the
        /// source's log when `everything`), then `importBundle`.
        case exportedBundle = "exported bundle"
        /// Chosen entries in a bundle of their own, then `importBundle`.
        case chosenBundle = "chosen bundle"
        /// `apply(entries, atomic: false)`, as peer replication does.
        case peer = "peer apply"
        /// `apply(entries, atomic: true)`.
        case atomic = "atomic apply"
    }

    var from: Int
    var to: Int
    var mode: Mode
    /// Every entry the source holds (possibly reordered, some twice), or a
    /// part of them.
    var everything: Bool
    /// The stream that chooses the entries, their order and repeats.
    var stream: UInt64
}
