import Foundation
import P2PDB
import P2PDBSync
import Synchronization
import Testing

/// A live query on one node sees writes made on another, as the sync
/// engine delivers them over the in-process transport.
@Suite struct LiveQuerySyncTests {
    struct Total: Decodable, Sendable, Equatable {
        var item: String
        var qty: Int
    }

    @Test func anObservationSeesAPeersWrites() async throws {
        let cluster = try await TestCluster(count: 2, seeds: { $0 == 0 ? [] : [0] })
        try await cluster[0].execute("CREATE TABLE sales (id TEXT PRIMARY KEY, item TEXT, qty INTEGER)")
        #expect(await cluster.waitForConvergence())

        let seen = Mutex<[[Total]]>([])
        let observer = Task {
            for try await totals in cluster[1].observe(Total.self, "SELECT item, sum(qty) AS qty FROM sales GROUP BY item ORDER BY item") {
                seen.withLock { $0.append(totals) }
            }
        }
        #expect(await eventually(timeout: .seconds(20)) { seen.withLock { $0.count } == 1 })
        #expect(seen.withLock { $0.first } == [])

        for n in 0..<5 {
            try await cluster[0].execute(
                "INSERT INTO sales(id, item, qty) VALUES (:id, :item, :qty)", record: Sale(id: "s-\(n)", item: "apple", qty: 2))
        }
        #expect(await eventually { seen.withLock { $0.last } == [Total(item: "apple", qty: 10)] })
        observer.cancel()
        await cluster.stop()
    }
}

private struct Sale: Encodable {
    var id: String
    var item: String
    var qty: Int
}

