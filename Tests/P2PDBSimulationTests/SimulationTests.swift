import GRDB
import P2PDB
@testable import P2PDBSimulation
import Testing

@Suite("Deterministic fault simulation")
struct SimulationTests {
    /// 200 seeds in four batches that run in parallel: faults on, then
    /// healing, then the checker. A failure names the command that replays it.
    @Test(arguments: 0..<4)
    func twoHundredSeedsKeepEveryGuarantee(batch: Int) async throws {
        for seed in UInt64(batch * 50 + 1)...UInt64(batch * 50 + 50) {
            let report = try await Simulation.run(.quick(seed: seed))
            #expect(report.passed, "\(report)")
            #expect(report.acknowledged > 0)
        }
    }

    /// 20 seeds in a private network: admins revoke, re-admit and demote
    /// writers at random while the faults run; every guarantee still holds,
    /// and verify replays every admission decision.
    @Test(arguments: 0..<2)
    func privateNetworkSeedsKeepEveryGuarantee(batch: Int) async throws {
        for seed in UInt64(batch * 10 + 1001)...UInt64(batch * 10 + 1010) {
            var configuration = SimulationConfiguration.quick(seed: seed)
            configuration.administrations = 6
            let report = try await Simulation.run(configuration)
            #expect(report.passed, "\(report)")
            #expect(report.administrations > 0)
        }
    }

    @Test func aSeedReplaysExactly() async throws {
        let first = try await Simulation.run(.quick(seed: 4242))
        let second = try await Simulation.run(.quick(seed: 4242))
        #expect(first.description == second.description)
        #expect(first.messagesSent > 0 && first.crashes + first.partitions > 0)
    }

    @Test func aRunNamesTheCommandThatReplaysIt() {
        #expect(SimulationConfiguration.quick(seed: 754).command == "p2pdb simulate --quick --seed 754")
        #expect(SimulationConfiguration(seed: 9).command == "p2pdb simulate --seed 9")
        var configuration = SimulationConfiguration.quick(seed: 754)
        configuration.nodes = 7
        configuration.corruptRate = 0.1
        configuration.settleLimit = 5_000
        #expect(configuration.command == "p2pdb simulate --quick --seed 754 --nodes 7 --corrupt-rate 0.1 --settle-limit 5000")
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
        #expect(simulation.report.violations.contains { $0.contains("is no write a client made") })
        #expect(simulation.report.description.contains("reproduce with: p2pdb simulate --quick --seed 11"))
        for node in simulation.nodes { try await node.node?.close() }
    }

    /// The oracle does not take the replicas' word for what was written: a
    /// replica whose rows agree with its own log (so `verify` passes) but
    /// not with what the client wrote fails, and so does one whose table
    /// lost the winning write behind its back.
    @Test func theOracleCatchesALostLastWriterWinsWrite() async throws {
        let simulation = try Simulation(.quick(seed: 11))
        try await simulation.setUp()
        try await simulation.runEvents()
        try await simulation.check()
        #expect(simulation.report.violations.isEmpty)
        let first = try #require(simulation.nodes[0].node)
        let row = try #require(try await first.query("SELECT id, label FROM tags ORDER BY id LIMIT 1").rows.first)
        guard case .text(let id) = row[0], case .text(let label) = row[1] else {
            Issue.record("tags \(row) has no text id and label")
            return
        }

        // The log holds the client's label, but the model is told it wrote
        // another: as if the write had been captured wrong everywhere.
        let write = try #require(simulation.model.writes.firstIndex { $0.token == label })
        simulation.model.writes[write].rows[0].values["label"] = .text("what the client wrote")
        simulation.report.violations = []
        try await simulation.check()
        for node in simulation.nodes { #expect(try await node.node?.store.verify().isValid == true) }
        #expect(simulation.report.violations.contains { $0.contains("tags \(id) label is '\(label)', expected 'what the client wrote'") })
        simulation.model.writes[write].rows[0].values["label"] = .text(label)

        // Node 0's table loses the winning label behind the replica's back.
        try await first.close()
        simulation.nodes[0].node = nil
        let database = try DatabaseQueue(path: simulation.nodes[0].directory.replicaURL.path)
        try await database.write { try $0.execute(sql: "UPDATE tags SET label = 'lost' WHERE id = ?", arguments: [id]) }
        try database.close()
        try simulation.start(0)
        simulation.report.violations = []
        try await simulation.check()
        #expect(simulation.report.violations.contains { $0.contains("node 0: tags \(id) label is 'lost', expected '\(label)'") })
        #expect(!simulation.report.violations.contains { $0.hasPrefix("node 1") })
        for node in simulation.nodes { try await node.node?.close() }
    }
}
