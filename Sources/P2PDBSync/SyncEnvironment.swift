import Synchronization

/// Time as the sync engine sees it: monotonic milliseconds and sleeping.
/// The simulator substitutes virtual time.
public protocol SyncClock: Sendable {
    var nowMilliseconds: UInt64 { get }
    func sleep(milliseconds: UInt64) async throws
}

/// Real time.
public struct ContinuousSyncClock: SyncClock {
    private let origin = ContinuousClock.now

    public init() {}

    public var nowMilliseconds: UInt64 {
        let elapsed = ContinuousClock.now - origin
        return UInt64(elapsed.components.seconds) * 1000 + UInt64(elapsed.components.attoseconds / 1_000_000_000_000_000)
    }

    public func sleep(milliseconds: UInt64) async throws {
        try await Task.sleep(for: .milliseconds(milliseconds))
    }
}

/// Randomness as the sync engine sees it (fanout choice, backoff jitter):
/// a seeded source makes a simulation replay exactly.
public protocol RandomSource: Sendable {
    func next() -> UInt64
}

extension RandomSource {
    /// A number in `0..<bound`; `bound` must be positive.
    func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

/// The system's random numbers.
public struct SystemRandomSource: RandomSource {
    public init() {}
    public func next() -> UInt64 {
        var generator = SystemRandomNumberGenerator()
        return generator.next()
    }
}

/// A seeded generator (SplitMix64): the same seed, the same numbers.
public final class SeededRandomSource: RandomSource {
    private let state: Mutex<UInt64>

    public init(seed: UInt64) { state = Mutex(seed) }

    public func next() -> UInt64 {
        state.withLock { state in
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
