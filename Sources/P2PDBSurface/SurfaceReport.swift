import Foundation

/// A broken invariant found by a case.
public struct SurfaceFailure: Sendable, Equatable, Codable, CustomStringConvertible {
    /// A short, stable name of what broke, for grouping failures.
    public var kind: String
    /// What exactly differed, with the values.
    public var detail: String

    public init(kind: String, detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { kind + ": " + detail }
}

/// What cases did, counted: one case's or a whole run's.
public struct SurfaceTally: Sendable, Codable {
    public var replicas = 0
    public var transactions = 0
    /// Statements, each counted with its transaction's outcome.
    public var statements = 0
    public var accepted = 0
    public var refused = 0
    public var failed = 0
    public var entriesDelivered = 0
    /// Dangling references and failed checks the replicas reported, alike,
    /// after full delivery.
    public var constraintProblems = 0
    /// Refused transactions by normalised reason.
    public var refusals: [String: Int] = [:]

    public mutating func add(_ other: SurfaceTally) {
        replicas += other.replicas
        transactions += other.transactions
        statements += other.statements
        accepted += other.accepted
        refused += other.refused
        failed += other.failed
        entriesDelivered += other.entriesDelivered
        constraintProblems += other.constraintProblems
        for (reason, count) in other.refusals { refusals[reason, default: 0] += count }
    }
}

/// What one case did and found.
public struct CaseReport: Sendable, Codable {
    public var seed: UInt64
    public var caseNumber: UInt64
    public var command: String
    public var differential = false
    public var tally = SurfaceTally()
    public var failures: [SurfaceFailure] = []
    /// Every step with what came of it: the statements per replica and the
    /// delivery order.
    public var transcript: [String] = []

    public init(seed: UInt64, caseNumber: UInt64, command: String) {
        self.seed = seed
        self.caseNumber = caseNumber
        self.command = command
    }

    public var passed: Bool { failures.isEmpty }

    /// The kinds of the failures, each once, in the order found.
    public var failureKinds: [String] {
        var seen = Set<String>()
        return failures.map(\.kind).filter { seen.insert($0).inserted }
    }

    /// The failures, the command that replays the case, and its transcript.
    public var failureDescription: String {
        (["case \(caseNumber) of seed \(seed) failed:"] + failures.map { "  " + $0.description }
            + ["replay with: \(command)", "steps:"] + transcript.map { "  " + $0 }).joined(separator: "\n")
    }
}

/// The sum of many cases.
public struct SurfaceSummary: Sendable {
    public var cases = 0
    public var differentialCases = 0
    public var tally = SurfaceTally()
    /// Failing cases, by case number.
    public var failingCases: [CaseReport] = []
    /// Per failure kind: how many cases showed it, and the smallest case
    /// (fewest statements) that did.
    public var failureKinds: [String: (count: Int, smallest: CaseReport)] = [:]
    public var seconds: Double = 0

    public init() {}

    public mutating func add(_ report: CaseReport) {
        cases += 1
        if report.differential { differentialCases += 1 }
        tally.add(report.tally)
        guard !report.passed else { return }
        failingCases.append(report)
        for kind in report.failureKinds {
            if let known = failureKinds[kind] {
                let smaller =
                    (report.tally.statements, report.caseNumber) < (known.smallest.tally.statements, known.smallest.caseNumber) ? report : known.smallest
                failureKinds[kind] = (known.count + 1, smaller)
            } else {
                failureKinds[kind] = (1, report)
            }
        }
    }

    public var description: String {
        let tally = self.tally
        var lines = [
            "\(cases) cases (\(differentialCases) differential against plain SQLite) in \(String(format: "%.1f", seconds)) s: "
                + "\(tally.replicas) replicas, \(tally.transactions) transactions, \(tally.statements) statements "
                + "(\(tally.accepted) accepted, \(tally.refused) refused, \(tally.failed) failed), \(tally.entriesDelivered) entries delivered, "
                + "\(tally.constraintProblems) constraint problems reported alike after merges; "
                + "\(failingCases.count) cases failed"
        ]
        if !tally.refusals.isEmpty {
            lines.append("refusals by reason (transactions):")
            for (reason, count) in tally.refusals.sorted(by: { ($1.value, $0.key) < ($0.value, $1.key) }) {
                lines.append("  \(count)  \(reason)")
            }
        }
        if !failureKinds.isEmpty {
            lines.append("failures by kind (cases, smallest replay):")
            for (kind, entry) in failureKinds.sorted(by: { ($1.value.count, $0.key) < ($0.value.count, $1.key) }) {
                lines.append("  \(entry.count)  \(kind): \(entry.smallest.command)")
            }
        }
        return lines.joined(separator: "\n")
    }
}
