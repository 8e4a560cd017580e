import Logging

/// The log lines of a catch-up. While the engine pulls and is behind its
/// peers, a line at most every `interval`: the entries applied since the
/// last line, their rate, the entries still behind and the time left at
/// that rate; then one line when it has caught up. A catch-up shorter than
/// one interval logs nothing, so steady replication stays quiet. Times are
/// the engine's clock, so a simulation replays the same lines.
struct CatchUpProgress {
    struct Line {
        var message: String
        var metadata: Logger.Metadata
    }

    let interval: UInt64
    /// When the catch-up started; nil while there is none.
    private var started: UInt64?
    private var lastLine: UInt64 = 0
    private var appliedSinceLine: UInt64 = 0
    private var appliedInAll: UInt64 = 0
    private var lines = 0

    init(interval: UInt64) { self.interval = interval }

    /// Counts entries from peers that the replica applied.
    mutating func applied(_ count: Int) {
        guard started != nil else { return }
        appliedSinceLine += UInt64(count)
        appliedInAll += UInt64(count)
    }

    /// The line to log at `now`, if one is due. `behind` counts the entries
    /// the established peers hold that this node lacks; `peers` the
    /// established sessions.
    mutating func line(now: UInt64, behind: UInt64, pulling: Bool, peers: Int) -> Line? {
        guard let started else {
            if pulling && behind > 0 {
                self.started = now
                lastLine = now
            }
            return nil
        }
        guard behind > 0 else {
            defer { self = CatchUpProgress(interval: interval) }
            guard lines > 0 else { return nil }
            let what = peers > 0 ? "caught up with its peers" : "stopped catching up, no peer being connected"
            return Line(
                message: "\(what): applied \(appliedInAll) entries in \(Self.describe(milliseconds: now - started))",
                metadata: ["applied": "\(appliedInAll)", "elapsed_ms": "\(now - started)"])
        }
        guard now >= lastLine + interval else { return nil }
        let elapsed = max(now - lastLine, 1)
        let perSecond = Double(appliedSinceLine) * 1000 / Double(elapsed)
        var metadata: Logger.Metadata = [
            "applied": "\(appliedSinceLine)", "entries_per_second": "\(Int(perSecond.rounded()))", "entries_behind": "\(behind)",
        ]
        let left: String
        if perSecond > 0 {
            let milliseconds = UInt64((Double(behind) * 1000 / perSecond).rounded())
            metadata["estimated_ms_left"] = "\(milliseconds)"
            left = "about \(Self.describe(milliseconds: milliseconds)) left"
        } else {
            left = "time left unknown: nothing applied"
        }
        let message =
            "catching up: applied \(appliedSinceLine) entries in the last \(Self.describe(milliseconds: elapsed)) "
            + "(\(Int(perSecond.rounded())) entries/s), \(behind) entries behind, \(left)"
        lastLine = now
        appliedSinceLine = 0
        lines += 1
        return Line(message: message, metadata: metadata)
    }

    /// `4.2 s`, `3 min 20 s`, `2 h 5 min`.
    static func describe(milliseconds: UInt64) -> String {
        if milliseconds < 60_000 {
            let tenths = (milliseconds + 50) / 100
            return "\(tenths / 10).\(tenths % 10) s"
        }
        let seconds = (milliseconds + 500) / 1000
        if seconds < 3600 { return "\(seconds / 60) min \(seconds % 60) s" }
        return "\(seconds / 3600) h \(seconds % 3600 / 60) min"
    }
}
