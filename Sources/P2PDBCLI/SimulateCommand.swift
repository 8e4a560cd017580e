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
            and restarts, random client transactions. Then the network heals and a checker \
            verifies convergence, acknowledged writes, counters and deletes. A failing seed is \
            printed and replays exactly with --seed.
            """)

    @Option(help: "Run this one seed (to reproduce a failure).")
    var seed: UInt64?

    @Option(help: "How many seeds to run, from --first.")
    var seeds = 100

    @Option(help: "The first seed.")
    var first: UInt64 = 1

    @Option(help: "Nodes per run.")
    var nodes = 5

    @Option(help: "Client transactions per run.")
    var transactions = 120

    @Flag(help: "The small run the test suite uses for each of its seeds.")
    var quick = false

    @Flag(help: "Print every seed's report, not only failures.")
    var verbose = false

    func run() async throws {
        try await reportingErrors {
            guard nodes >= 2, seeds > 0, transactions >= 0 else {
                throw P2PDBError(.invalidInput, "--nodes must be at least 2, --seeds positive")
            }
            let chosen = seed.map { [$0] } ?? Array(first..<(first + UInt64(seeds)))
            var failures: [UInt64] = []
            var totals = SimulationReport(seed: 0)
            let started = Date()
            for seed in chosen {
                var configuration = quick ? SimulationConfiguration.quick(seed: seed) : SimulationConfiguration(seed: seed)
                configuration.nodes = nodes
                if !quick { configuration.transactions = transactions }
                let report = try await Simulation.run(configuration)
                totals.transactions += report.transactions
                totals.acknowledged += report.acknowledged
                totals.messagesSent += report.messagesSent
                totals.dropped += report.dropped
                totals.duplicated += report.duplicated
                totals.corrupted += report.corrupted
                totals.partitions += report.partitions
                totals.crashes += report.crashes
                totals.checkedRows += report.checkedRows
                totals.settleTime = max(totals.settleTime, report.settleTime)
                if !report.passed { failures.append(seed) }
                if verbose || !report.passed || chosen.count == 1 { print(report) }
            }
            let seconds = Date().timeIntervalSince(started)
            print(
                "\(chosen.count) seeds in \(String(format: "%.0f", seconds)) s: \(totals.transactions) transactions, "
                    + "\(totals.acknowledged) acknowledged, \(totals.messagesSent) messages (\(totals.dropped) dropped, "
                    + "\(totals.duplicated) duplicated, \(totals.corrupted) corrupted), \(totals.partitions) partitions, "
                    + "\(totals.crashes) crashes, \(totals.checkedRows) rows checked, longest convergence \(totals.settleTime) ms; "
                    + "\(failures.count) failed")
            if !failures.isEmpty {
                print("failing seeds: \(failures.map(String.init).joined(separator: " ")) (reproduce with p2pdb simulate --seed N)")
                throw ExitCode(1)
            }
        }
    }
}
