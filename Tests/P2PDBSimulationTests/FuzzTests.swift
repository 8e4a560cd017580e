import Foundation
import P2PDB
import P2PDBFuzz
import Testing

@Suite("Fuzzing the decoders of outside input")
struct FuzzTests {
    static let corpus = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/Corpus")

    // A decoder that never returns is caught by the time limit; how slow
    // the slowest input was is for `p2pdb fuzz` to report, not a test.
    @Test(.timeLimit(.minutes(5)), arguments: Fuzzer.Target.allCases)
    func theCommittedCorpusIsAcceptedAndMutationsFailCleanly(target: Fuzzer.Target) async throws {
        let inputs = try FuzzCorpus.load(target, from: Self.corpus)
        #expect(!inputs.isEmpty)
        // Every committed seed is a valid input.
        for input in inputs { #expect(Fuzzer.decode(input, as: target)) }
        // Mutations of them decode or fail with an error; entries
        // signed again and applied leave a replica that passes verify.
        var fuzzer = try Fuzzer(target: target, seed: 20_261_122, corpus: inputs)
        let iterations = target == .signed ? 3_000 : 20_000
        let report = try await fuzzer.run(iterations: iterations)
        #expect(report.inputs == iterations)
        #expect(report.rejected > 0)
        #expect(report.replicaProblems.isEmpty, "\(report.replicaProblems)")
        if target == .signed { #expect(report.accepted > 0, "no mutated entry reached the merge") }
    }

    @Test func theCommittedCorpusMatchesTheBuiltInSeeds() throws {
        for target in Fuzzer.Target.allCases {
            #expect(try FuzzCorpus.load(target, from: Self.corpus) == FuzzCorpus.seeds(for: target))
        }
    }
}
