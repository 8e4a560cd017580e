import P2PDB
@testable import P2PDBSimulation
import Testing

@Suite("Deterministic fault simulation")
struct SimulationTests {
    /// 200 seeds in four batches that run in parallel: faults on, then
    /// healing, then the checker.
    @Test(arguments: 0..<4)
    func twoHundredSeedsKeepEveryGuarantee(batch: Int) async throws {
        for seed in UInt64(batch * 50 + 1)...UInt64(batch * 50 + 50) {
            let report = try await Simulation.run(.quick(seed: seed))
            #expect(report.passed, "\(report)")
            #expect(report.acknowledged > 0)
        }
    }

    @Test func aSeedReplaysExactly() async throws {
        let first = try await Simulation.run(.quick(seed: 4242))
        let second = try await Simulation.run(.quick(seed: 4242))
        #expect(first.description == second.description)
        #expect(first.messagesSent > 0 && first.crashes + first.partitions > 0)
    }

    @Test func theCheckerCatchesAWriteTheModelDidNotMake() async throws {
        let simulation = try Simulation(.quick(seed: 11))
        try await simulation.setUp()
        try await simulation.runEvents()
        #expect(simulation.report.violations.isEmpty)
        // A stray write on one node after the run: the counters no longer
        // add up there, and the checker must say so.
        let node = try #require(simulation.nodes[0].node)
        try await node.execute("UPDATE stock SET units = units + 100 WHERE sku = 'apple'")
        try await simulation.check()
        #expect(simulation.report.violations.contains { $0.contains("stock apple") })
        for node in simulation.nodes { try await node.node?.close() }
    }
}
