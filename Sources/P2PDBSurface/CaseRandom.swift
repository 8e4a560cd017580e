import P2PDBSync

/// The randomness of one case, fixed by the run's seed and the case number,
/// so that `--seed S --case C` replays exactly the case a run reported.
///
/// Parts of a case that must not shift when another part draws more or
/// fewer numbers (a delivery's choice of entries, which depends on how
/// many entries the engine made) take a stream of their own with `split()`.
struct CaseRandom: RandomNumberGenerator {
    private let source: SeededRandomSource

    init(seed: UInt64, caseNumber: UInt64) {
        // Mixed through SplitMix64 once so that neighbouring cases and
        // seeds do not start from neighbouring states.
        self.init(stream: SeededRandomSource(seed: seed ^ (caseNumber &* 0xD1B5_4A32_D192_ED03)).next())
    }

    init(stream: UInt64) { source = SeededRandomSource(seed: stream) }

    mutating func next() -> UInt64 { source.next() }

    /// A number in `0..<count`; `count` must be positive.
    mutating func below(_ count: Int) -> Int {
        precondition(count > 0, "nothing to choose from")
        return Int(next() % UInt64(count))
    }

    mutating func chance(_ probability: Double) -> Bool {
        Double(next() >> 11) / Double(1 << 53) < probability
    }

    /// One of `items`, which the generator only ever passes non-empty.
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

    mutating func int(in range: ClosedRange<Int>) -> Int { range.lowerBound + below(range.count) }

    /// The seed of an independent stream.
    mutating func split() -> UInt64 { next() }
}
