import ArgumentParser
import Foundation
import P2PDB
import P2PDBSimulation

struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run the deterministic fault simulation over many seeds and check the guarantees.",
        discussion: """
            Each seed runs several nodes in this process under one scheduler in virtual time: \
            messages dropped, duplicated, delayed, reordered and corrupted, partitions, crashes \
            and restarts (some cutting a client request), random client transactions and schema \
            changes. Then the network heals and a checker compares every replica with a model \
            built from what the clients did and were told. A failing seed is printed with the \
            exact command that replays it.
            """)

    @Option(help: "Run this one seed (to reproduce a failure).")
    var seed: UInt64?

    @Option(help: "How many seeds to run, from --first.")
    var seeds = 100

    @Option(help: "The first seed.")
    var first: UInt64 = 1

    @Flag(help: "The small run the test suite uses for each of its seeds.")
    var quick = false

    // Each setting below replaces the one of the run chosen (--quick or
    // not); a failing seed's command names those that differ.

    @Option(help: "Nodes per run (default 5).")
    var nodes: Int?

    @Option(help: "Client transactions per run (default 120; 50 with --quick).")
    var transactions: Int?

    @Option(help: "Virtual milliseconds of client work and faults (default 20000; 8000 with --quick).")
    var duration: UInt64?

    @Option(help: "Partitions and crashes per run (default 6; 4 with --quick).")
    var faults: Int?

    @Option(help: "The chance that a message is lost (default 0.03).")
    var dropRate: Double?

    @Option(help: "The chance that a message is delivered twice (default 0.03).")
    var duplicateRate: Double?

    @Option(help: "The chance that a message's frame is corrupted (default 0.02).")
    var corruptRate: Double?

    @Option(help: "The chance that a crash cuts a client request (default 0.03).")
    var interruptRate: Double?

    @Option(help: "The longest delay of a message, in virtual milliseconds (default 200).")
    var maximumDelay: UInt64?

    @Option(help: "Virtual milliseconds allowed to converge after healing (default 120000).")
    var settleLimit: UInt64?

    @Option(help: "Grants and revocations by admins; above 0 the nodes form a private network (default 0).")
    var administrations: Int?

    @Flag(help: "Print every seed's report, not only failures.")
    var verbose = false

    /// The run for one seed: the chosen base with the settings given.
    func configuration(seed: UInt64) -> SimulationConfiguration {
        var configuration = quick ? SimulationConfiguration.quick(seed: seed) : SimulationConfiguration(seed: seed)
        if let nodes { configuration.nodes = nodes }
        if let transactions { configuration.transactions = transactions }
        if let duration { configuration.duration = duration }
        if let faults { configuration.faults = faults }
        if let dropRate { configuration.dropRate = dropRate }
        if let duplicateRate { configuration.duplicateRate = duplicateRate }
        if let corruptRate { configuration.corruptRate = corruptRate }
        if let interruptRate { configuration.interruptRate = interruptRate }
        if let maximumDelay { configuration.maximumDelay = maximumDelay }
        if let settleLimit { configuration.settleLimit = settleLimit }
        if let administrations { configuration.administrations = administrations }
        return configuration
    }

    func run() async throws {
        try await reportingErrors {
            guard (nodes ?? 2) >= 2, seeds > 0, (transactions ?? 0) >= 0, (faults ?? 0) >= 0, (administrations ?? 0) >= 0, duration.map({ $0 > 0 }) ?? true,
                maximumDelay.map({ $0 > 0 }) ?? true
            else {
                throw P2PDBError(
                    .invalidInput, "--nodes must be at least 2, --seeds, --duration and --maximum-delay positive, --transactions and --faults not negative")
            }
            let chosen = seed.map { [$0] } ?? Array(first..<(first + UInt64(seeds)))
            var failures: [String] = []
            var totals = SimulationReport(seed: 0)
            let started = Date()
            for seed in chosen {
                let report = try await Simulation.run(configuration(seed: seed))
                totals.transactions += report.transactions
                totals.acknowledged += report.acknowledged
                totals.unacknowledged += report.unacknowledged
                totals.messagesSent += report.messagesSent
                totals.dropped += report.dropped
                totals.duplicated += report.duplicated
                totals.corrupted += report.corrupted
                totals.partitions += report.partitions
                totals.crashes += report.crashes
                totals.checkedRows += report.checkedRows
                totals.checkedWrites += report.checkedWrites
                totals.cutButWritten += report.cutButWritten
                totals.reinserts += report.reinserts
                totals.beatenByDeletes += report.beatenByDeletes
                totals.settleTime = max(totals.settleTime, report.settleTime)
                if !report.passed { failures.append(report.command) }
                if verbose || !report.passed || chosen.count == 1 { print(report) }
                if chosen.count == 1 && report.passed { print("replay with: \(report.command)") }
            }
            let seconds = Date().timeIntervalSince(started)
            print(
                "\(chosen.count) seeds in \(String(format: "%.0f", seconds)) s: \(totals.transactions) transactions, "
                    + "\(totals.acknowledged) acknowledged, \(totals.unacknowledged) cut by a crash, \(totals.messagesSent) messages "
                    + "(\(totals.dropped) dropped, \(totals.duplicated) duplicated, \(totals.corrupted) corrupted), "
                    + "\(totals.partitions) partitions, \(totals.crashes) crashes, \(totals.checkedWrites) writes checked "
                    + "(\(totals.cutButWritten) cut but committed, \(totals.reinserts) re-inserts, \(totals.beatenByDeletes) beaten by "
                    + "a concurrent delete), \(totals.checkedRows) rows verified, longest convergence \(totals.settleTime) ms; "
                    + "\(failures.count) failed")
            if !failures.isEmpty {
                print("reproduce each failure with:")
                for command in failures { print("  \(command)") }
                throw ExitCode(1)
            }
        }
    }
}
