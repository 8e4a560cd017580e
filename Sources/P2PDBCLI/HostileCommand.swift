import ArgumentParser
import Foundation
import P2PDB
import P2PDBFuzz

struct HostileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hostile",
        abstract: "Attack a node's HTTP API as a hostile client would, and check that it holds.",
        discussion: """
            Starts a node in a temporary directory, in this process, and drives each attack of the \
            security review against it for --attack-seconds (endless queries, long function calls, \
            distinct large statements, endless empty strings, sorts spilling to disk, PRAGMAs), then \
            sends --statements random statements built from SQLite's grammar and its PRAGMA and \
            function lists (with TCL-style parameters, comments, NULs), while ordinary clients keep \
            writing and reading. It checks that no answer is a 500, that a request without an entry \
            changed nothing, that ordinary clients read their own writes, that verify passes, that \
            /healthz answers within --health-budget, and that memory and temporary disk stay within \
            the bounds the limits give. Exits non-zero on any failure. The same --seed gives the \
            same statements.
            """)

    @Option(help: "Generated statements to send.")
    var statements = 10_000

    @Option(help: "Seed of the generated statements.")
    var seed: UInt64 = 1

    @Option(help: ArgumentHelp("How long each attack of the review runs; 0 skips them.", valueName: "seconds"))
    var attackSeconds: Double = 5

    @Option(help: ArgumentHelp("Run verify after this many statements.", valueName: "n"))
    var verifyEvery = 2_000

    @Option(help: ArgumentHelp("What /healthz may take, in milliseconds.", valueName: "ms"))
    var healthBudget = 100

    @Option(help: ArgumentHelp("Run only the attacks whose names start with this; repeat for several.", valueName: "name"))
    var attack: [String] = []

    @Flag(help: "Print every generated request and its answer to standard error.")
    var showRequests = false

    func run() async throws {
        try await reportingErrors {
            guard statements >= 0, attackSeconds >= 0, attackSeconds.isFinite, verifyEvery > 0, healthBudget > 0 else {
                throw P2PDBError(.invalidInput, "--statements, --attack-seconds, --verify-every and --health-budget must be positive")
            }
            var options = HostileRun.Options(
                seed: seed, statements: statements, attackSeconds: attackSeconds, verifyEvery: verifyEvery,
                healthBudget: .milliseconds(healthBudget))
            options.showRequests = showRequests
            options.attacks = attack
            let report = try await HostileRun(options: options).run { line in
                FileHandle.standardError.write(Data((line + "\n").utf8))
            }
            print(report)
            if !report.isClean { throw ExitCode(1) }
        }
    }
}
