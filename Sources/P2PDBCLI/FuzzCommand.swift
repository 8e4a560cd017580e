import ArgumentParser
import Foundation
import P2PDB
import P2PDBFuzz

struct FuzzCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz",
        abstract: "Fuzz the decoders of outside input with seeded mutations of a corpus.",
        discussion: """
            Targets: entry (the entry decoder and signature check), bundle (bundle files), frame \
            (peer protocol frames), http (HTTP request bodies), dns (mDNS packets), signed (mutated \
            entries signed again by their author and applied to a scratch replica, which must pass \
            verify at the end). Every input must decode or fail cleanly; a crash stops the run, slow \
            inputs are reported as hangs, memory growth is reported. The same --seed gives the same inputs.
            """)

    @Option(help: "entry, bundle, frame, http, dns, signed or all.")
    var target = "all"

    @Option(help: "Inputs per target.")
    var iterations = 1_000_000

    @Option(help: "Seed of the mutations.")
    var seed: UInt64 = 1

    @Option(help: ArgumentHelp("Start from the corpus in this directory (one folder per target).", valueName: "dir"))
    var corpus: String?

    @Option(help: ArgumentHelp("Write the built-in seed corpus to this directory and stop.", valueName: "dir"))
    var writeCorpus: String?

    @Flag(help: "signed: verify the replica after every accepted entry; on the first failure print the log that reproduces it.")
    var verifyEach = false

    func run() async throws {
        try await reportingErrors {
            if let writeCorpus {
                try FuzzCorpus.write(to: URL(fileURLWithPath: writeCorpus))
                print("wrote the seed corpus to \(writeCorpus)")
                return
            }
            let targets: [Fuzzer.Target]
            if target == "all" {
                targets = Fuzzer.Target.allCases
            } else if let one = Fuzzer.Target(rawValue: target) {
                targets = [one]
            } else {
                throw P2PDBError(.invalidInput, "--target must be one of \(Fuzzer.Target.allCases.map(\.rawValue).joined(separator: ", ")) or all")
            }
            var failed = false
            for target in targets {
                let inputs = try corpus.map { try FuzzCorpus.load(target, from: URL(fileURLWithPath: $0)) }
                var fuzzer = try Fuzzer(target: target, seed: seed, corpus: inputs)
                fuzzer.verifyEach = verifyEach
                let report = try await fuzzer.run(iterations: iterations)
                print(report)
                if !report.failingLog.isEmpty {
                    print("the replica log that reproduces it, one entry per line in hex (apply them in order, then verify):")
                    for entry in report.failingLog { print(Hex.encode(entry)) }
                }
                fflush(nil)
                if !report.isClean { failed = true }
            }
            if failed { throw ExitCode(1) }
        }
    }
}
