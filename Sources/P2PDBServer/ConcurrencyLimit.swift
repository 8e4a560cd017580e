import Synchronization

/// How many of something may be in use at once: HTTP connections, change
/// feed subscribers, bundle uploads. Each is a way for one client to hold
/// the node's memory or threads; past the limit new ones are turned away
/// with 503 and `Retry-After` instead of slowing everyone down.
///
/// ```swift
/// guard let slot = uploads.take() else { throw P2PDBError(.busy, "...") }
/// defer { withExtendedLifetime(slot) {} }   // given back when the work ends
/// ```
final class ConcurrencyLimit: Sendable {
    let maximum: Int
    private let inUse = Atomic<Int>(0)

    init(maximum: Int) {
        self.maximum = maximum
    }

    /// A slot, or nil when all `maximum` are taken. The slot is given back
    /// when the last reference to it goes, however the work ends.
    func take() -> Slot? {
        let before = inUse.wrappingAdd(1, ordering: .acquiringAndReleasing).oldValue
        guard before < maximum else {
            inUse.wrappingSubtract(1, ordering: .acquiringAndReleasing)
            return nil
        }
        return Slot(limit: self)
    }

    final class Slot: Sendable {
        private let limit: ConcurrencyLimit

        fileprivate init(limit: ConcurrencyLimit) {
            self.limit = limit
        }

        deinit { limit.inUse.wrappingSubtract(1, ordering: .acquiringAndReleasing) }
    }
}
