import ArgumentParser
import Foundation
import P2PDB
import P2PDBBench

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure P2PDB beside plain SQLite doing the same work with the same durability.",
        discussion: """
            Build in release mode first (swift build -c release). Runs in a temporary directory \
            and prints each figure with plain SQLite's and their ratio, then a Markdown table \
            for docs/PERFORMANCE.md.
            """)

    @Option(help: "Scale the amount of work (1 is the documented run).")
    var scale: Double = 1

    @Option(help: "Durability for both P2PDB and plain SQLite: full, normal or off.")
    var durability: String = "full"

    @Option(help: "Run only these benchmarks: sequential, concurrent, batched, select, apply, propagation, catch-up.")
    var only: [String] = []

    func run() async throws {
        try await reportingErrors {
            guard let durability = Durability(rawValue: durability) else {
                throw P2PDBError(.invalidInput, "--durability must be full, normal or off")
            }
            let benchmarks = Benchmarks(scale: scale, durability: durability)
            let results = try await benchmarks.runAll(only: Set(only)) { print($0); fflush(nil) }
            print()
            print("| benchmark | P2PDB | SQLite | ratio | target |")
            print("|---|---:|---:|---:|---|")
            for result in results {
                let sqlite = result.sqlite.map { Self.format($0) } ?? "-"
                let ratio = result.ratio.map { String(format: "%.2f", $0) } ?? "-"
                print("| \(result.name) (\(result.unit)) | \(Self.format(result.p2pdb)) | \(sqlite) | \(ratio) | \(result.target) |")
            }
            print()
            for result in results { print("- \(result.name): \(result.note)") }
        }
    }

    static func format(_ value: Double) -> String {
        let rounded = Int(value.rounded())
        var digits = Array(String(rounded))
        var index = digits.count - 3
        while index > 0 {
            digits.insert(",", at: index)
            index -= 3
        }
        return String(digits)
    }
}
