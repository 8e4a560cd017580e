import Foundation

/// Runs many cases, a few at a time, and sums them up.
public enum SurfaceRunner {
    /// Runs `cases` with at most `jobs` at once. `each` sees every report as
    /// it comes in (not in case order), for progress and for printing
    /// failures.
    public static func run(
        _ options: SurfaceOptions, cases: Range<UInt64>, jobs: Int = 2, each: (CaseReport) -> Void = { _ in }
    ) async -> SurfaceSummary {
        let started = ContinuousClock.now
        var summary = SurfaceSummary()
        await withTaskGroup(of: CaseReport.self) { group in
            var next = cases.lowerBound
            for _ in 0..<max(1, jobs) where next < cases.upperBound {
                let number = next
                group.addTask { await SurfaceCase.run(options, caseNumber: number) }
                next += 1
            }
            while let report = await group.next() {
                summary.add(report)
                each(report)
                if next < cases.upperBound {
                    let number = next
                    group.addTask { await SurfaceCase.run(options, caseNumber: number) }
                    next += 1
                }
            }
        }
        summary.failingCases.sort { $0.caseNumber < $1.caseNumber }
        let elapsed = ContinuousClock.now - started
        summary.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return summary
    }
}
