import ArgumentParser
import Foundation
import P2PDB
import P2PDBSurface

struct SurfaceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "surface",
        abstract: "Run random SQL over the whole accepted surface on several replicas and check that they agree.",
        discussion: """
            Each case creates random tables (every declared type and affinity, STRICT, WITHOUT ROWID, \
            composite keys, counters, extreme defaults, odd identifiers; sometimes the same table \
            concurrently on several replicas with conflicting definitions), runs random statements on \
            random replicas with values of every storage class, and delivers entries between replicas \
            in random orders, partially, with duplicates, by bundle and by apply. Then every replica must \
            hold the same rows (storage class and bits), columns, indexes and state hash, pass verify and \
            open again, and every import of validly signed entries must have succeeded. A case with one \
            replica also runs every transaction on plain SQLite and must agree with it, except where \
            P2PDB refuses a statement by design; refusals are counted by reason. A case is fully \
            determined by --seed and its number; a failure prints the command that replays it.
            """)

    @Option(help: "How many cases to run, from --first.")
    var cases = 1_000

    @Option(help: "The first case.")
    var first: UInt64 = 0

    @Option(name: .customLong("case"), help: "Run this one case (to replay a failure).")
    var caseNumber: UInt64?

    @Option(help: "Seed of the run.")
    var seed: UInt64 = 1

    @Option(help: "Writing replicas per case (default: 1 to 4 at random; 1 is a differential case against plain SQLite).")
    var replicas: Int?

    @Option(help: "Statements per case (default: 10 to 40 at random).")
    var statements: Int?

    @Option(help: "Cases run at once.")
    var jobs = 2

    @Option(help: "Print the steps of at most this many failing cases of each failure kind.")
    var transcripts = 2

    @Flag(help: "Print every case's steps, not only failing ones.")
    var verbose = false

    @Flag(help: "With --case: drop steps and statements while the case still fails, and print the smallest variant.")
    var shrink = false

    @Option(help: ArgumentHelp("With --shrink: keep a failure whose kind or detail contains this text (default: the case's first failure's kind).", valueName: "text"))
    var match: String?

    @Flag(help: "Run the cases in this process: faster to start, but a crash ends the run.")
    var inProcess = false

    /// Set on the child processes that run the cases: print one JSON report per case.
    @Flag(help: .hidden)
    var worker = false

    func run() async throws {
        try await reportingErrors {
            guard cases > 0, jobs > 0, replicas.map({ (1...16).contains($0) }) ?? true, statements.map({ $0 >= 0 }) ?? true else {
                throw P2PDBError(.invalidInput, "--cases and --jobs must be positive, --replicas 1 to 16, --statements not negative")
            }
            let options = SurfaceOptions(seed: seed, replicas: replicas, statements: statements)
            if shrink {
                guard let caseNumber else { throw P2PDBError(.invalidInput, "--shrink needs --case") }
                try await shrink(caseNumber, options)
                return
            }
            if let caseNumber, !worker {
                try await replay(caseNumber, options)
                return
            }
            let range = first..<(first + UInt64(cases))
            if worker {
                let encoder = JSONEncoder()
                _ = await SurfaceRunner.run(options, cases: range, jobs: 1) { report in
                    if let line = try? encoder.encode(report) { print(String(decoding: line, as: UTF8.self)) }
                    fflush(nil)
                }
                return
            }
            var printed: [String: Int] = [:]
            var done = 0
            var lastProgress = ContinuousClock.now
            var summary = SurfaceSummary()
            let started = ContinuousClock.now
            let each = { (report: CaseReport) in
                summary.add(report)
                done += 1
                if verbose {
                    print(report.passed ? "case \(report.caseNumber) passed" : report.failureDescription)
                    if report.passed { print(report.transcript.map { "  " + $0 }.joined(separator: "\n")) }
                } else if !report.passed {
                    let kinds = report.failureKinds
                    if kinds.contains(where: { printed[$0, default: 0] < transcripts }) {
                        for kind in kinds { printed[kind, default: 0] += 1 }
                        print(report.failureDescription)
                    } else {
                        print("case \(report.caseNumber) failed: " + report.failureKinds.joined(separator: "; ") + "; replay with: \(report.command)")
                    }
                }
                if range.count > 1, ContinuousClock.now - lastProgress > .seconds(30) {
                    lastProgress = ContinuousClock.now
                    print("progress: \(done) of \(range.count) cases")
                }
                fflush(nil)
            }
            if inProcess {
                _ = await SurfaceRunner.run(options, cases: range, jobs: jobs, each: each)
            } else {
                // Enough cases per worker that starting it costs little.
                try await SurfaceWorkers(options: options, chunk: 50).run(range, jobs: jobs, each: each)
            }
            summary.failingCases.sort { $0.caseNumber < $1.caseNumber }
            let elapsed = ContinuousClock.now - started
            summary.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print(summary.description)
            if !summary.failingCases.isEmpty { throw ExitCode(1) }
        }
    }

    /// One case, its steps shown as they run when verbose, so that a
    /// statement that crashes the process is the last line printed.
    private func replay(_ caseNumber: UInt64, _ options: SurfaceOptions) async throws {
        let echo: ((String) -> Void)? = verbose ? { line in print("  " + line); fflush(nil) } : nil
        if verbose { print("case \(caseNumber) of seed \(options.seed):") }
        let report = await SurfaceCase.run(options, caseNumber: caseNumber, echo: echo)
        if report.passed {
            print("case \(caseNumber) passed")
            return
        }
        print(verbose ? (report.failures.map { "failed: " + $0.description } + ["replay with: \(report.command)"]).joined(separator: "\n") : report.failureDescription)
        throw ExitCode(1)
    }

    private func shrink(_ caseNumber: UInt64, _ options: SurfaceOptions) async throws {
        let report = await SurfaceCase.run(options, caseNumber: caseNumber)
        guard let target = match ?? report.failures.first?.kind else {
            print("case \(caseNumber) passes: nothing to shrink")
            return
        }
        let keeps = { (failure: SurfaceFailure) in failure.kind.contains(target) || failure.detail.contains(target) }
        guard let result = await CaseShrinker.shrink(options, caseNumber: caseNumber, keeps: keeps) else {
            print("case \(caseNumber) has no failure matching \"\(target)\"")
            throw ExitCode(1)
        }
        print(
            "case \(caseNumber) shrunk from \(result.statementsBefore) to \(result.statementsAfter) statements "
                + "in \(result.attempts) attempts, keeping \"\(target)\"; these steps reproduce it:")
        print(result.report.failureDescription)
        throw ExitCode(1)
    }
}
