/// Makes a failing case smaller: drops steps, then statements, one at a
/// time while the case still fails the same way, until nothing more can
/// go. The full delivery at the end stays, so convergence is still checked.
public enum CaseShrinker {
    public struct Result: Sendable {
        /// The report of the smallest variant, with its steps.
        public var report: CaseReport
        public var statementsBefore: Int
        public var statementsAfter: Int
        public var attempts: Int
    }

    /// The smallest variant found of case `caseNumber` that still has a
    /// failure `keeps` accepts; nil if the case does not fail that way.
    public static func shrink(_ options: SurfaceOptions, caseNumber: UInt64, keeps: (SurfaceFailure) -> Bool) async -> Result? {
        guard let original = try? SurfaceCase(options, caseNumber: caseNumber).script else { return nil }
        let first = await SurfaceCase.run(options, caseNumber: caseNumber, script: original)
        guard first.failures.contains(where: keeps) else { return nil }
        var shrinking = Shrinking(options: options, caseNumber: caseNumber, best: original, report: first)
        var changed = true
        while changed {
            changed = false
            // Later steps first: they depend on the earlier ones.
            for index in shrinking.best.steps.indices.reversed() where index < shrinking.best.steps.count {
                var candidate = shrinking.best
                candidate.steps.remove(at: index)
                if await shrinking.tryCandidate(candidate, keeps) { changed = true }
            }
            for index in shrinking.best.steps.indices.reversed() {
                if await shrinking.dropStatements(ofStep: index, keeps) { changed = true }
            }
        }
        return Result(
            report: shrinking.report, statementsBefore: original.statementCount, statementsAfter: shrinking.best.statementCount,
            attempts: shrinking.attempts)
    }

    private struct Shrinking {
        let options: SurfaceOptions
        let caseNumber: UInt64
        var best: SurfaceScript
        var report: CaseReport
        var attempts = 0

        /// Keeps `candidate` if it still fails the same way.
        mutating func tryCandidate(_ candidate: SurfaceScript, _ keeps: (SurfaceFailure) -> Bool) async -> Bool {
            attempts += 1
            let outcome = await SurfaceCase.run(options, caseNumber: caseNumber, script: candidate)
            guard outcome.failures.contains(where: keeps) else { return false }
            best = candidate
            report = outcome
            return true
        }

        /// Drops the statements of one transaction one by one, last first.
        mutating func dropStatements(ofStep index: Int, _ keeps: (SurfaceFailure) -> Bool) async -> Bool {
            var changed = false
            var request = Int.max
            while true {
                guard case .transaction(let replica, let requests) = best.steps[index], requests.count > 1 || requests.first?.count ?? 0 > 1
                else { return changed }
                request = min(request, requests.count - 1)
                guard request >= 0 else { return changed }
                var removed = false
                for statement in requests[request].indices.reversed() {
                    var shorter = requests
                    shorter[request].remove(at: statement)
                    if shorter[request].isEmpty { shorter.remove(at: request) }
                    guard !shorter.isEmpty else { continue }
                    var candidate = best
                    candidate.steps[index] = .transaction(replica: replica, requests: shorter)
                    if await tryCandidate(candidate, keeps) {
                        changed = true
                        removed = true
                        break
                    }
                }
                if !removed { request -= 1 }
            }
        }
    }
}
