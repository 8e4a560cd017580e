/// Where P2PDB reads the time. Entries carry the author's wall-clock time
/// for people to read; nothing merges by it. Tests and the simulator pass
/// their own clock so that runs repeat exactly.
public protocol WallClock: Sendable {
    /// Milliseconds since 1970-01-01 UTC.
    func now() -> Int64
}

/// A clock that a test sets by hand.
public final class ManualClock: WallClock, @unchecked Sendable {
    private var milliseconds: Int64
    private let lock = NSLock()

    public init(milliseconds: Int64 = 0) { self.milliseconds = milliseconds }

    public func now() -> Int64 { lock.withLock { milliseconds } }

    public func advance(by delta: Int64) { lock.withLock { milliseconds += delta } }
}

import Foundation

/// The system's clock.
public struct SystemClock: WallClock {
    public init() {}
    public func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
}
