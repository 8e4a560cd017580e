import Foundation
import P2PDB
import P2PDBFuzz
import Testing

@Suite("Fuzzing the decoders of outside input")
struct FuzzTests {
    static let corpus = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/Corpus")

    @Test(arguments: Fuzzer.Target.allCases)
    func theCommittedCorpusIsAcceptedAndMutationsFailCleanly(target: Fuzzer.Target) throws {
        let inputs = try FuzzCorpus.load(target, from: Self.corpus)
        #expect(!inputs.isEmpty)
        // Every committed seed is a valid input.
        for input in inputs { #expect(Fuzzer.decode(input, as: target)) }
        // Mutations of them decode or fail with an error, fast.
        var fuzzer = try Fuzzer(target: target, seed: 20_261_122, corpus: inputs)
        fuzzer.hangMilliseconds = 2_000
        let report = fuzzer.run(iterations: 20_000)
        #expect(report.inputs == 20_000)
        #expect(report.rejected > 0)
        #expect(report.hangs.isEmpty)
    }

    @Test func theCommittedCorpusMatchesTheBuiltInSeeds() throws {
        for target in Fuzzer.Target.allCases {
            #expect(try FuzzCorpus.load(target, from: Self.corpus) == FuzzCorpus.seeds(for: target))
        }
    }
}
