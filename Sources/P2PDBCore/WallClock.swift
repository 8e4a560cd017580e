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

/// Times as people read and write them: ISO 8601 in UTC.
public enum Timestamps {
    /// `2027-01-31T00:00:00Z` for a time in milliseconds since 1970.
    public static func iso8601(milliseconds: Int64) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }

    /// Milliseconds since 1970 for `2027-01-31` (midnight UTC) or
    /// `2027-01-31T18:00:00Z`; nil for anything else.
    public static func milliseconds(iso8601 text: String) -> Int64? {
        let formatter = ISO8601DateFormatter()
        if text.count == 10 { formatter.formatOptions = [.withFullDate] }
        guard let date = formatter.date(from: text) else { return nil }
        return Int64((date.timeIntervalSince1970 * 1000).rounded())
    }
}
